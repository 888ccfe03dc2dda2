// Package signing signs webhook deliveries and verifies them.
//
// Every delivery carries two schemes over the exact bytes sent. The
// X-Fluxbase-Signature header is what the Fluxbase examples verify: hex
// HMAC-SHA256 of the body keyed with the secret string as the user holds it.
// Standard Webhooks (https://www.standardwebhooks.com/) adds an id and a
// timestamp to the signed content, so a receiver can reject replays, and
// lists one signature per valid secret, so a secret can be rotated without a
// window in which deliveries fail.
//
// The receivers in the examples sign JSON.stringify(req.body), not the raw
// body, so the body must be what internal/jsjson produces for the two to
// agree. Verification is here for receivers written in Go and for our own
// tests; the test vectors of the Standard Webhooks libraries and a
// differential test against Node's crypto keep both honest.
package signing

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Header names. HTTP header names are case-insensitive; these are in the
// canonical form net/http uses as http.Header keys, so that indexing a
// Header directly and Header.Get agree. Standard Webhooks writes them in
// lower case (webhook-id), which is how HTTP/2 and Node present them.
const (
	HeaderFluxbase  = "X-Fluxbase-Signature"
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// SecretPrefix marks a secret whose remainder is the base64 of the key, the
// Standard Webhooks convention.
const SecretPrefix = "whsec_"

// Limits on a secret the user chooses, in characters (Unicode code points).
const (
	MinSecretLen = 8
	MaxSecretLen = 256
)

// NewSecret returns a fresh secret: SecretPrefix and the standard base64 of
// 32 random bytes, the form Standard Webhooks libraries decode.
func NewSecret() string {
	var key [32]byte
	// crypto/rand.Read never returns an error; it crashes the program if
	// the system's generator fails, which is the right outcome for a secret.
	_, _ = rand.Read(key[:])
	return SecretPrefix + base64.StdEncoding.EncodeToString(key[:])
}

// ValidateSecret checks a secret the user supplied. Its errors are phrased
// to follow the field name ("secret " + err.Error()) in a validation
// message.
//
// Control characters are refused although a receiver could sign with them:
// a trailing newline or tab is almost always a copy-and-paste accident, and
// it would make every signature fail at the receiver with nothing on our
// side to show why.
func ValidateSecret(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("must be valid UTF-8 text")
	}
	n := utf8.RuneCountInString(s)
	if n < MinSecretLen {
		return fmt.Errorf("must be at least %d characters (got %d)", MinSecretLen, n)
	}
	if n > MaxSecretLen {
		return fmt.Errorf("must be at most %d characters (got %d)", MaxSecretLen, n)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("must not contain control characters such as newlines or tabs (found %U at byte %d)", r, i)
	}
	return nil
}

// StandardKey returns the HMAC key Standard Webhooks libraries derive from
// secret: the base64-decoded remainder of a SecretPrefix secret, or, for any
// other secret (including a prefixed one that is not valid base64), the
// secret's own bytes, which is what a receiver can use with a library that
// takes raw key bytes.
func StandardKey(secret string) []byte {
	// StdEncoding silently skips CR and LF; a secret with a line break in it
	// is not the clean base64 a library would decode.
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok && rest != "" && !strings.ContainsAny(rest, "\r\n") {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return key
		}
	}
	return []byte(secret)
}
