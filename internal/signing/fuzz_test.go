package signing_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/signing"
)

// FuzzVerify feeds Verify headers an attacker controls. It must not panic,
// must fail only with the documented errors, and must accept what Sign
// produced for the same inputs.
func FuzzVerify(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Add("id", "-1", "v1, v1,,, ,v1 v2,x", []byte(""), "short")
	f.Add("id", "99999999999999999999", "v1,====", []byte("{}"), "whsec_")
	f.Add("", "", "", []byte(nil), "")
	now := time.Unix(1614265330, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, secret string) {
		h := http.Header{}
		h.Set(signing.HeaderID, id)
		h.Set(signing.HeaderTimestamp, ts)
		h.Set(signing.HeaderSignature, sig)
		err := signing.Verify(secret, h, body, 0, now)
		if err != nil && !errors.Is(err, signing.ErrMissingHeaders) && !errors.Is(err, signing.ErrTimestamp) && !errors.Is(err, signing.ErrNoMatch) {
			t.Fatalf("Verify returned an undocumented error: %v", err)
		}

		if id == "" || secret == "" {
			return
		}
		signed := http.Header{}
		signing.Sign(signed, []string{secret}, id, now, body)
		if err := signing.Verify(secret, signed, body, 0, now); err != nil {
			t.Fatalf("Verify rejects what Sign produced (id %q, secret %q): %v", id, secret, err)
		}
		if !signing.VerifyFluxbase(secret, body, signed.Get(signing.HeaderFluxbase)) {
			t.Fatalf("VerifyFluxbase rejects what Sign produced (secret %q)", secret)
		}
		_ = signing.VerifyFluxbase(secret, body, sig) // any header text, no panic
	})
}
