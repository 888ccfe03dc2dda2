package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's
// clock, either way, when Verify is given no tolerance: the Standard
// Webhooks default, wide enough for clock skew and a slow network, narrow
// enough that a captured request cannot be replayed much later.
const DefaultTolerance = 5 * time.Minute

// Errors from Verify, for errors.Is.
var (
	ErrMissingHeaders = errors.New("signing: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrTimestamp      = errors.New("signing: webhook-timestamp is malformed or outside the tolerance")
	ErrNoMatch        = errors.New("signing: no webhook-signature matches")
)

// VerifyFluxbase reports whether header is the X-Fluxbase-Signature of body
// under secret. Hex digits may be in either case. The comparison takes the
// same time wherever the first difference is.
func VerifyFluxbase(secret string, body []byte, header string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Verify checks a Standard Webhooks delivery: the webhook-timestamp header
// is within tolerance of now (DefaultTolerance when tolerance is 0 or less),
// and one of the space-separated v1 entries of webhook-signature is the
// signature of body under secret (decoded as StandardKey does). Entries of
// other versions are ignored, so a receiver keeps working when a sender adds
// a scheme. The comparison takes the same time wherever the first
// difference is.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id := h.Get(HeaderID)
	tsText := h.Get(HeaderTimestamp)
	sigs := h.Values(HeaderSignature)
	if id == "" || tsText == "" || len(sigs) == 0 {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a unix time in seconds", ErrTimestamp, tsText)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	// Duration arithmetic saturates, so an absurd timestamp is simply far.
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s from now, tolerance %s", ErrTimestamp, tsText, d.Round(time.Second), tolerance)
	}

	// The signed content holds the header text as sent, not the parsed
	// number, which ParseInt would accept with a sign or leading zeros.
	m := hmac.New(sha256.New, StandardKey(secret))
	m.Write([]byte(id + "." + tsText + "."))
	m.Write(body)
	want := m.Sum(nil)

	// Several header lines are accepted as well as one space-separated list,
	// as a proxy may have split the list.
	for _, line := range sigs {
		for entry := range strings.FieldsSeq(line) {
			version, sig, ok := strings.Cut(entry, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err != nil {
				continue
			}
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}
