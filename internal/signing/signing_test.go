package signing_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/signing"
)

// The test vector published with the Standard Webhooks specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestStandardVector(t *testing.T) {
	if got := signing.StandardSignature(signing.StandardKey(vectorSecret), vectorID, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("StandardSignature = %s, want %s", got, vectorSig)
	}

	h := http.Header{}
	signing.Sign(h, []string{vectorSecret}, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if got := h.Get("webhook-signature"); got != vectorSig {
		t.Fatalf("Sign set webhook-signature %q, want %q", got, vectorSig)
	}

	// The vector as a receiver gets it, headers written by hand.
	h = http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTS))
	h.Set("webhook-signature", vectorSig)
	if err := signing.Verify(vectorSecret, h, []byte(vectorBody), 0, time.Unix(vectorTS, 0)); err != nil {
		t.Fatalf("Verify of the published vector: %v", err)
	}
}

func TestStandardKey(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		want   []byte
	}{
		{"prefixed base64 is decoded", "whsec_AAECAw==", []byte{0, 1, 2, 3}},
		{"vector", vectorSecret, mustDecode(t, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		{"unprefixed is raw", "AAECAw==", []byte("AAECAw==")},
		{"user secret is raw", "my-webhook-secret", []byte("my-webhook-secret")},
		{"prefixed but not base64 is raw", "whsec_not base64!", []byte("whsec_not base64!")},
		{"prefixed without padding is raw", "whsec_AAECAw", []byte("whsec_AAECAw")},
		{"prefix alone is raw", "whsec_", []byte("whsec_")},
		{"line break is raw", "whsec_AAEC\nAw==", []byte("whsec_AAEC\nAw==")},
		{"prefix is case-sensitive", "WHSEC_AAECAw==", []byte("WHSEC_AAECAw==")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signing.StandardKey(tt.secret); !bytes.Equal(got, tt.want) {
				t.Fatalf("StandardKey(%q) = %x, want %x", tt.secret, got, tt.want)
			}
		})
	}
}

func mustDecode(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestNewSecret(t *testing.T) {
	a, b := signing.NewSecret(), signing.NewSecret()
	if a == b {
		t.Fatalf("two secrets are equal: %s", a)
	}
	for _, s := range []string{a, b} {
		rest, ok := strings.CutPrefix(s, signing.SecretPrefix)
		if !ok {
			t.Fatalf("%q lacks the %s prefix", s, signing.SecretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(key) != 32 {
			t.Fatalf("%q: remainder decodes to %d bytes, %v; want 32 bytes", s, len(key), err)
		}
		if !bytes.Equal(signing.StandardKey(s), key) {
			t.Fatalf("StandardKey(%q) is not the decoded remainder", s)
		}
		if err := signing.ValidateSecret(s); err != nil {
			t.Fatalf("ValidateSecret(NewSecret()) = %v", err)
		}
	}
}

func TestValidateSecret(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		wantErr string // substring; "" for valid
	}{
		{"eight characters", "12345678", ""},
		{"seven characters", "1234567", "at least 8 characters (got 7)"},
		{"empty", "", "at least 8"},
		{"counted in characters, not bytes", "ééé", "at least 8 characters (got 3)"},
		{"eight multi-byte characters", "秘密秘密秘密秘密", ""},
		{"emoji and spaces", "my 🔑 is secret", ""},
		{"256 characters", strings.Repeat("é", 256), ""},
		{"257 characters", strings.Repeat("a", 257), "at most 256 characters (got 257)"},
		{"trailing newline", "my-secret-value\n", "control characters"},
		{"tab", "my\tsecret", "control characters"},
		{"NUL", "secret\x00secret", "control characters"},
		{"invalid UTF-8", "secret\xffsecret", "valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signing.ValidateSecret(tt.secret)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidateSecret(%q) = %v, want nil", tt.secret, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("ValidateSecret(%q) = nil, want an error containing %q", tt.secret, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("ValidateSecret(%q) = %q, want it to contain %q", tt.secret, err, tt.wantErr)
			}
		})
	}
}

func TestSign(t *testing.T) {
	body := []byte(`{"id":"evt_1","event":"user.created","data":{}}`)
	ts := time.Unix(1700000000, 999_000_000) // the fraction is dropped
	current, previous := signing.NewSecret(), "previous-user-secret"

	tests := []struct {
		name    string
		secrets []string
		// which secrets must verify, in webhook-signature order
		wantSigned []string
	}{
		{"one secret", []string{current}, []string{current}},
		{"rotation, current first", []string{current, previous}, []string{current, previous}},
		{"empty strings skipped", []string{"", current, ""}, []string{current}},
		{"no secret", nil, nil},
		{"only empty", []string{""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A reused Header with stale values must come out clean.
			h := http.Header{}
			h.Set(signing.HeaderFluxbase, "stale")
			h.Set(signing.HeaderSignature, "v1,stale")
			h.Set("Content-Type", "application/json")
			signing.Sign(h, tt.secrets, "dlv_1", ts, body)

			if got := h.Get("webhook-id"); got != "dlv_1" {
				t.Errorf("webhook-id = %q, want dlv_1", got)
			}
			if got := h.Get("webhook-timestamp"); got != "1700000000" {
				t.Errorf("webhook-timestamp = %q, want 1700000000", got)
			}
			if got := h.Get("Content-Type"); got != "application/json" {
				t.Errorf("unrelated header changed to %q", got)
			}
			if len(tt.wantSigned) == 0 {
				if v, ok := h[signing.HeaderFluxbase]; ok {
					t.Errorf("X-Fluxbase-Signature = %q without a secret", v)
				}
				if v, ok := h[signing.HeaderSignature]; ok {
					t.Errorf("webhook-signature = %q without a secret", v)
				}
				return
			}

			if got, want := h.Get("X-Fluxbase-Signature"), signing.FluxbaseSignature(tt.wantSigned[0], body); got != want {
				t.Errorf("X-Fluxbase-Signature = %q, want %q (the first secret's)", got, want)
			}
			if !signing.VerifyFluxbase(tt.wantSigned[0], body, h.Get("X-Fluxbase-Signature")) {
				t.Errorf("VerifyFluxbase rejects the current secret's signature")
			}
			entries := strings.Split(h.Get("webhook-signature"), " ")
			if len(entries) != len(tt.wantSigned) {
				t.Fatalf("webhook-signature has %d entries, want %d: %q", len(entries), len(tt.wantSigned), entries)
			}
			for i, secret := range tt.wantSigned {
				want := signing.StandardSignature(signing.StandardKey(secret), "dlv_1", 1700000000, body)
				if entries[i] != want {
					t.Errorf("entry %d = %q, want %q", i, entries[i], want)
				}
				// Each secret verifies on its own, as its receiver holds only one.
				if err := signing.Verify(secret, h, body, 0, ts); err != nil {
					t.Errorf("Verify with secret %d: %v", i, err)
				}
			}
		})
	}
}

func TestVerifyFluxbase(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event":"user.created"}`)
	good := signing.FluxbaseSignature(secret, body)
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid", secret, body, good, true},
		{"upper-case hex", secret, body, strings.ToUpper(good), true},
		{"tampered body", secret, []byte(`{"event":"user.deleted"}`), good, false},
		{"wrong secret", "whsec_other", body, good, false},
		{"prefix matters", strings.TrimPrefix(secret, "whsec_"), body, good, false},
		{"empty header", secret, body, "", false},
		{"truncated", secret, body, good[:62], false},
		{"not hex", secret, body, "zz" + good[2:], false},
		{"sha256= form", secret, body, "sha256=" + good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signing.VerifyFluxbase(tt.secret, tt.body, tt.header); got != tt.want {
				t.Fatalf("VerifyFluxbase = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event":"user.created"}`)
	sent := time.Unix(1700000000, 0)
	signed := func() http.Header {
		h := http.Header{}
		signing.Sign(h, []string{secret}, "dlv_1", sent, body)
		return h
	}
	with := func(edit func(h http.Header)) http.Header {
		h := signed()
		edit(h)
		return h
	}

	tests := []struct {
		name      string
		secret    string
		h         http.Header
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"valid", secret, signed(), body, 0, sent, nil},
		{"valid at the edge of the default tolerance", secret, signed(), body, 0, sent.Add(5 * time.Minute), nil},
		{"valid, sender clock ahead", secret, signed(), body, 0, sent.Add(-5 * time.Minute), nil},
		{"tampered body", secret, signed(), []byte(`{"event":"user.deleted"}`), 0, sent, signing.ErrNoMatch},
		{"wrong secret", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)), signed(), body, 0, sent, signing.ErrNoMatch},
		{"old timestamp", secret, signed(), body, 0, sent.Add(5*time.Minute + time.Second), signing.ErrTimestamp},
		{"future timestamp", secret, signed(), body, 0, sent.Add(-6 * time.Minute), signing.ErrTimestamp},
		{"custom tolerance", secret, signed(), body, time.Hour, sent.Add(59 * time.Minute), nil},
		{"custom tolerance exceeded", secret, signed(), body, time.Minute, sent.Add(2 * time.Minute), signing.ErrTimestamp},
		{"far-future timestamp", secret, with(func(h http.Header) { h.Set("webhook-timestamp", "9223372036854775807") }), body, 0, sent, signing.ErrTimestamp},
		{"malformed timestamp", secret, with(func(h http.Header) { h.Set("webhook-timestamp", "yesterday") }), body, 0, sent, signing.ErrTimestamp},
		{"timestamp re-written with a plus sign", secret, with(func(h http.Header) { h.Set("webhook-timestamp", "+1700000000") }), body, 0, sent, signing.ErrNoMatch},
		{"changed id", secret, with(func(h http.Header) { h.Set("webhook-id", "dlv_2") }), body, 0, sent, signing.ErrNoMatch},
		{"missing id", secret, with(func(h http.Header) { h.Del("webhook-id") }), body, 0, sent, signing.ErrMissingHeaders},
		{"missing timestamp", secret, with(func(h http.Header) { h.Del("webhook-timestamp") }), body, 0, sent, signing.ErrMissingHeaders},
		{"missing signature", secret, with(func(h http.Header) { h.Del("webhook-signature") }), body, 0, sent, signing.ErrMissingHeaders},
		{"no headers", secret, http.Header{}, body, 0, sent, signing.ErrMissingHeaders},
		{"other versions ignored", secret, with(func(h http.Header) {
			h.Set("webhook-signature", "v1a,abc v2,"+strings.TrimPrefix(h.Get("webhook-signature"), "v1,"))
		}), body, 0, sent, signing.ErrNoMatch},
		{"match among junk", secret, with(func(h http.Header) {
			h.Set("webhook-signature", "v1,bad v1,!!! junk  "+h.Get("webhook-signature")+" v1a,x")
		}), body, 0, sent, nil},
		{"match on a second header line", secret, with(func(h http.Header) {
			good := h.Get("webhook-signature")
			h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
			h.Add("webhook-signature", good)
		}), body, 0, sent, nil},
		{"truncated signature", secret, with(func(h http.Header) {
			h.Set("webhook-signature", h.Get("webhook-signature")[:20])
		}), body, 0, sent, signing.ErrNoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signing.Verify(tt.secret, tt.h, tt.body, tt.tolerance, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignConcurrent(t *testing.T) {
	// One Signer serves every delivery worker; pooled state shared by
	// mistake would show up as a signature made with another call's key.
	ts := time.Unix(1700000000, 0)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			secret := strings.Repeat(strconv.Itoa(g), 8+g*10)
			body := []byte(strings.Repeat("b", g*100))
			for range 200 {
				h := http.Header{}
				signing.Sign(h, []string{secret}, "dlv_"+strconv.Itoa(g), ts, body)
				if !signing.VerifyFluxbase(secret, body, h.Get(signing.HeaderFluxbase)) {
					errs <- errors.New("X-Fluxbase-Signature made with another goroutine's state")
					return
				}
				if err := signing.Verify(secret, h, body, 0, ts); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
