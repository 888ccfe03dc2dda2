package clientkey

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func validName(details map[string]string, name string) string {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxName {
		details["name"] = "must be 1 to 100 characters"
	}
	return name
}

func validDescription(details map[string]string, d *string) *string {
	if d == nil {
		return nil
	}
	if utf8.RuneCountInString(*d) > MaxDescription {
		details["description"] = "must be at most 1000 characters"
	}
	return d
}

func validRate(details map[string]string, r *int) int {
	if r == nil {
		details["rate_limit_per_minute"] = "is required: the most requests per minute this key may make (1 to 100000)"
		return 0
	}
	if *r < 1 || *r > MaxRatePerMinute {
		details["rate_limit_per_minute"] = "must be from 1 to 100000 requests per minute"
	}
	return *r
}

// expiry accepts any date. A past one makes an expired key: the seeds'
// own example uses a date that has since passed, and it must work.
func expiry(t *time.Time) *time.Time {
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// validScopes checks scopes' form; whether the actor may grant them is
// checkGrant's question.
func validScopes(details map[string]string, scopes []string) []string {
	if len(scopes) < 1 || len(scopes) > MaxScopes {
		details["scopes"] = "must list 1 to 50 scopes, such as read:users or write:webhooks"
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, sc := range scopes {
		if !auth.ValidScope(sc) {
			details["scopes"] = "\"" + truncate(sc, 64) + "\" is not a scope: use action:resource (e.g. read:users) or *"
			return nil
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

// checkGrant refuses, with 403, a key that would have more power than
// whoever creates or changes it: scopes the actor's role may not grant
// (granted is what the request asks for), and, when the actor is itself a
// client key, scopes beyond that key's or a higher rate_limit_per_minute.
// The key's whole resulting state is held to the acting key's, so a narrow
// key can neither mint a wider key nor edit one (extend its expiry, say).
func (s *Service) checkGrant(ctx context.Context, a *fluxhook.Actor, k *fluxhook.ClientKey, granted []string) error {
	problems := map[string]string{}
	if denied := auth.ScopesAllowed(a.Role, granted); len(denied) > 0 {
		problems["scopes"] = "cannot include " + strings.Join(dedupe(denied), ", ") + ": a key cannot have more power than its owner's role allows"
	}
	if a.KeyID != "" {
		// Read fresh rather than from the authentication cache: this is a
		// write path, and the acting key may have just been narrowed.
		actor, err := s.db.ClientKey(ctx, a.KeyID)
		if fluxhook.IsNotFound(err) {
			return errInvalidKey
		}
		if err != nil {
			return err
		}
		if denied := auth.ScopesSubset(actor.Scopes, k.Scopes); len(denied) > 0 {
			problems["scopes"] = "cannot include " + strings.Join(dedupe(denied), ", ") + ": a client key cannot create or change a key with scopes beyond its own"
		}
		if k.RateLimitPerMinute > actor.RateLimitPerMinute {
			problems["rate_limit_per_minute"] = "cannot exceed " + strconv.Itoa(actor.RateLimitPerMinute) + ", the limit of the client key making this request"
		}
	}
	if len(problems) == 0 {
		return nil
	}
	fields := make([]string, 0, len(problems))
	for f := range problems {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f + " " + problems[f]
	}
	return &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "GRANT_EXCEEDS_CREATOR",
		Message: "Insufficient permissions: " + strings.Join(parts, "; ") + ".", Details: problems}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
