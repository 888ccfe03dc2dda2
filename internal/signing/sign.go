package signing

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Signer sets the signature headers on outgoing deliveries. It runs once
// per attempt, so it keeps its scratch state in a pool and allocates only
// the header values themselves. The zero value is ready to use and safe for
// concurrent use.
type Signer struct {
	pool sync.Pool
}

// signState is the per-call scratch space a Signer pools.
type signState struct {
	mac  *mac
	key  []byte // the HMAC key of the signature being computed
	pre  []byte // "msgID.timestamp.", the head of the Standard Webhooks content
	text []byte // every header value, turned into one string at the end
}

func (s *Signer) get() *signState {
	if st, ok := s.pool.Get().(*signState); ok {
		return st
	}
	return &signState{mac: newMAC(), key: make([]byte, 0, 64), pre: make([]byte, 0, 64), text: make([]byte, 0, 256)}
}

func (s *Signer) put(st *signState) {
	clear(st.key[:cap(st.key)]) // no secret lingers in pooled memory
	s.pool.Put(st)
}

// Sign sets the headers for one delivery attempt of body: X-Fluxbase-Signature
// with the first secret, webhook-id, webhook-timestamp (ts in unix seconds)
// and webhook-signature with one v1 signature per secret, in the order
// given.
//
// secrets lists the current secret first, then any rotated-out secret still
// inside its overlap; deciding which are still valid is the caller's job.
// Empty strings are skipped, so a webhook without a secret can pass what it
// stores; with no secret left, only webhook-id and webhook-timestamp are set
// (they still let a receiver deduplicate) and any signature headers already
// in h are removed, so a reused Header never carries a stale signature.
//
// msgID must be the same on every attempt of a delivery, which is what lets
// a receiver recognise a retry.
func (s *Signer) Sign(h http.Header, secrets []string, msgID string, ts time.Time, body []byte) {
	st := s.get()
	defer s.put(st)

	unix := ts.Unix()
	st.pre = appendSignedPrefix(st.pre[:0], msgID, unix)

	// text is "<timestamp><hex><v1,sig v1,sig...>"; the headers are slices of
	// one string made from it.
	text := strconv.AppendInt(st.text[:0], unix, 10)
	tsEnd := len(text)
	hexEnd := tsEnd
	signed := false
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if !signed {
			st.key = append(st.key[:0], secret...)
			st.mac.reset(st.key)
			st.mac.write(body)
			text = hex.AppendEncode(text, st.mac.finish())
			hexEnd = len(text)
		} else {
			text = append(text, ' ')
		}
		signed = true

		st.key = appendStandardKey(st.key[:0], secret)
		st.mac.reset(st.key)
		st.mac.write(st.pre)
		st.mac.write(body)
		text = append(text, "v1,"...)
		text = base64.StdEncoding.AppendEncode(text, st.mac.finish())
	}
	st.text = text[:0]
	values := string(text)

	headers := make([]string, 4)
	headers[0], headers[1] = msgID, values[:tsEnd]
	h[HeaderID] = headers[0:1:1]
	h[HeaderTimestamp] = headers[1:2:2]
	if !signed {
		delete(h, HeaderFluxbase)
		delete(h, HeaderSignature)
		return
	}
	headers[2], headers[3] = values[tsEnd:hexEnd], values[hexEnd:]
	h[HeaderFluxbase] = headers[2:3:3]
	h[HeaderSignature] = headers[3:4:4]
}

// FluxbaseSignature returns the X-Fluxbase-Signature value for body: the
// lower-case hex of HMAC-SHA256 keyed with the UTF-8 bytes of secret as the
// user holds it (SecretPrefix included), which is what the examples'
// crypto.createHmac("sha256", secret) computes.
func FluxbaseSignature(secret string, body []byte) string {
	m := newMAC()
	m.reset([]byte(secret))
	m.write(body)
	return hex.EncodeToString(m.finish())
}

// StandardSignature returns one webhook-signature entry, "v1," and the
// base64 of HMAC-SHA256(key, msgID + "." + ts + "." + body), ts being unix
// seconds. key is usually StandardKey(secret).
func StandardSignature(key []byte, msgID string, ts int64, body []byte) string {
	m := newMAC()
	m.reset(key)
	m.write(appendSignedPrefix(nil, msgID, ts))
	m.write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.finish())
}

func appendSignedPrefix(dst []byte, msgID string, ts int64) []byte {
	dst = append(dst, msgID...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, ts, 10)
	return append(dst, '.')
}
