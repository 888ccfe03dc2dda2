// Package fluxhook holds Fluxhook's domain types and its application error
// type. It depends on the standard library only; every adapter (storage,
// HTTP, messaging) speaks in these types, and only cmd/* wires adapters
// together.
package fluxhook

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind classifies an error by what the caller can do about it. The HTTP
// layer maps each kind to one status code in one place.
type Kind string

const (
	KindMalformed    Kind = "malformed"       // the request could not be parsed (400)
	KindInvalid      Kind = "invalid"         // parsed, but a field breaks a rule (422)
	KindUnauthorized Kind = "unauthorized"    // no usable credential (401)
	KindForbidden    Kind = "forbidden"       // authenticated, not allowed (403)
	KindNotFound     Kind = "not_found"       // no such thing, or not yours (404)
	KindConflict     Kind = "conflict"        // clashes with the current state (409)
	KindGone         Kind = "gone"            // existed, no longer usable (410)
	KindTooLarge     Kind = "too_large"       // body over the limit (413)
	KindRateLimited  Kind = "rate_limited"    // slow down (429)
	KindUnavailable  Kind = "unavailable"     // a dependency is down; retry later (503)
	KindInternal     Kind = "internal"        // a bug or an unexpected failure (500)
	KindNotImplement Kind = "not_implemented" // the route exists, the capability does not yet (501)
)

// Error is the application error. Message is a sentence a person can read
// and is shown to API callers for every kind except KindInternal; Err is
// the cause, kept for logs and errors.Is, never shown.
type Error struct {
	Kind    Kind
	Code    string            // UPPER_SNAKE machine code, e.g. "INVALID_CLIENT_KEY"
	Message string            // human sentence
	Details map[string]string // per-field problems for KindInvalid
	// Extra holds additional top-level body fields (e.g. "required_scope").
	Extra map[string]any
	// RetryAfter, when set, becomes the Retry-After header.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind and code.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a validation error with per-field details; its message
// lists them ("Validation failed: password must be at least 12
// characters."), so a client that shows only the message still says what
// to fix.
func Invalid(details map[string]string) *Error {
	fields := make([]string, 0, len(details))
	for f := range details {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f + " " + details[f]
	}
	return &Error{Kind: KindInvalid, Code: "VALIDATION_FAILED", Message: "Validation failed: " + strings.Join(parts, "; ") + ".", Details: details}
}

// NotFound returns a not-found error for the named thing ("webhook", "user").
func NotFound(thing string) *Error {
	return &Error{Kind: KindNotFound, Code: "NOT_FOUND", Message: "The " + thing + " does not exist."}
}

// Unavailable wraps a dependency failure the caller should retry.
func Unavailable(what string, err error) *Error {
	return &Error{Kind: KindUnavailable, Code: "SERVICE_UNAVAILABLE", Message: "The service is temporarily unavailable (" + what + "); retry shortly.", RetryAfter: 5 * time.Second, Err: err}
}

// ErrorKind returns the kind of err: the Kind of the first *Error in its
// chain, or KindInternal for anything else.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorCode returns the code of the first *Error in err's chain, or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err is a not-found error.
func IsNotFound(err error) bool { return ErrorKind(err) == KindNotFound }
