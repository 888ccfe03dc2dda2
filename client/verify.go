package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/signing"
)

// Verification for webhook endpoints written in Go. Every delivery
// carries two signatures over the exact body bytes sent:
// X-Fluxbase-Signature (hex HMAC-SHA256 keyed with the secret string as
// you hold it, whsec_ prefix included) and Standard Webhooks
// (webhook-id, webhook-timestamp, webhook-signature; one v1 entry per
// secret while a rotated secret overlaps the new one). The server signs
// with the same package these delegate to, so the two cannot drift.

// Header names of a delivery.
const (
	HeaderFluxbaseSignature = signing.HeaderFluxbase
	HeaderWebhookID         = signing.HeaderID
	HeaderWebhookTimestamp  = signing.HeaderTimestamp
	HeaderWebhookSignature  = signing.HeaderSignature
)

// DefaultTolerance is how far webhook-timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = signing.DefaultTolerance

// Errors of VerifyStandard, for errors.Is.
var (
	ErrMissingHeaders = signing.ErrMissingHeaders
	ErrTimestamp      = signing.ErrTimestamp
	ErrNoMatch        = signing.ErrNoMatch
)

// VerifyFluxbaseSignature reports whether signature (the
// X-Fluxbase-Signature header) is body's signature under secret.
func VerifyFluxbaseSignature(body []byte, signature, secret string) bool {
	return signing.VerifyFluxbase(secret, body, signature)
}

// VerifyStandard checks a delivery's Standard Webhooks headers: the
// timestamp within tolerance of now (DefaultTolerance when 0), and a v1
// signature of body under secret among the listed ones.
func VerifyStandard(body []byte, h http.Header, secret string, tolerance time.Duration, now time.Time) error {
	return signing.Verify(secret, h, body, tolerance, now)
}

// StandardSignature returns the webhook-signature entry ("v1,<base64>")
// of a message id, unix timestamp and body under secret, for tests of
// receivers.
func StandardSignature(secret, id string, timestamp int64, body []byte) string {
	return signing.StandardSignature(signing.StandardKey(secret), id, timestamp, body)
}

// FluxbaseSignature returns the X-Fluxbase-Signature value of body under
// secret, for tests of receivers.
func FluxbaseSignature(body []byte, secret string) string {
	return signing.FluxbaseSignature(secret, body)
}

// maxBody bounds what VerifyRequest reads: deliveries are JSON events,
// not uploads.
const maxBody = 10 << 20

// VerifyRequest reads r's body and checks its Standard Webhooks
// signature against any of secrets (pass the old and the new one while
// rotating your configuration). It returns the body when it is
// authentic; an http.Handler answers 401 otherwise.
func VerifyRequest(r *http.Request, secrets ...string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("client: read webhook body: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("client: webhook body over %d bytes", maxBody)
	}
	now := time.Now()
	var errs []error
	for _, s := range secrets {
		err := signing.Verify(s, r.Header, body, 0, now)
		if err == nil {
			return body, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("client: VerifyRequest needs at least one secret")
	}
	return nil, errors.Join(errs...)
}
