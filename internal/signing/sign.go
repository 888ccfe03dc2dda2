package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sign sets the headers of one delivery attempt of body: X-Fluxbase-Signature
// with the first secret, webhook-id, webhook-timestamp (ts in unix seconds)
// and webhook-signature with one v1 signature per secret, in the order
// given.
//
// secrets lists the secrets still valid (during a rotation overlap, the
// current and the previous one); deciding which are valid, and which of
// them goes first and so signs X-Fluxbase-Signature, which has room for
// one, is the caller's job. Empty strings are skipped, so a webhook
// without a secret can pass what it stores; with no secret left, only
// webhook-id and webhook-timestamp are set (they still let a receiver
// deduplicate) and any signature headers already in h are removed, so a
// reused Header never carries a stale signature.
//
// msgID must be the same on every attempt of a delivery, which is what lets
// a receiver recognise a retry.
func Sign(h http.Header, secrets []string, msgID string, ts time.Time, body []byte) {
	unix := ts.Unix()
	h[HeaderID] = []string{msgID}
	h[HeaderTimestamp] = []string{strconv.FormatInt(unix, 10)}
	var fluxbase string
	var standard []string
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if fluxbase == "" {
			fluxbase = FluxbaseSignature(secret, body)
		}
		standard = append(standard, StandardSignature(StandardKey(secret), msgID, unix, body))
	}
	if fluxbase == "" {
		delete(h, HeaderFluxbase)
		delete(h, HeaderSignature)
		return
	}
	h[HeaderFluxbase] = []string{fluxbase}
	h[HeaderSignature] = []string{strings.Join(standard, " ")}
}

// FluxbaseSignature returns the X-Fluxbase-Signature value for body: the
// lower-case hex of HMAC-SHA256 keyed with the UTF-8 bytes of secret as the
// user holds it (SecretPrefix included), which is what the examples'
// crypto.createHmac("sha256", secret) computes.
func FluxbaseSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// StandardSignature returns one webhook-signature entry, "v1," and the
// base64 of HMAC-SHA256(key, msgID + "." + ts + "." + body), ts being unix
// seconds. key is usually StandardKey(secret).
func StandardSignature(key []byte, msgID string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(signedPrefix(msgID, ts))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signedPrefix is what Standard Webhooks signs before the body:
// "msgID.timestamp.".
func signedPrefix(msgID string, ts int64) []byte {
	b := make([]byte, 0, len(msgID)+22)
	b = append(b, msgID...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '.')
}
