package client_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/client"
)

// The vector published with the Standard Webhooks specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestStandardVector(t *testing.T) {
	if got := client.StandardSignature(vectorSecret, vectorID, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("StandardSignature = %s, want %s", got, vectorSig)
	}
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTS))
	h.Set("webhook-signature", vectorSig)
	at := time.Unix(vectorTS, 0)
	if err := client.VerifyStandard([]byte(vectorBody), h, vectorSecret, 0, at); err != nil {
		t.Fatalf("VerifyStandard: %v", err)
	}
	if err := client.VerifyStandard([]byte(vectorBody), h, vectorSecret, 0, at.Add(6*time.Minute)); !errors.Is(err, client.ErrTimestamp) {
		t.Errorf("six minutes late: %v, want ErrTimestamp", err)
	}
	if err := client.VerifyStandard([]byte(vectorBody+" "), h, vectorSecret, 0, at); !errors.Is(err, client.ErrNoMatch) {
		t.Errorf("another body: %v, want ErrNoMatch", err)
	}
}

func TestFluxbaseSignature(t *testing.T) {
	body := []byte(`{"event":"user.created"}`)
	m := hmac.New(sha256.New, []byte("my-webhook-secret-key"))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	if got := client.FluxbaseSignature(body, "my-webhook-secret-key"); got != want {
		t.Fatalf("FluxbaseSignature = %s, want %s", got, want)
	}
	if !client.VerifyFluxbaseSignature(body, strings.ToUpper(want), "my-webhook-secret-key") {
		t.Error("upper-case hex refused")
	}
	if client.VerifyFluxbaseSignature(body, want, "my-webhook-secret-kez") {
		t.Error("another secret accepted")
	}
}

// A receiver that holds either secret of a rotation overlap accepts the
// delivery, and one that holds neither refuses it.
func TestVerifyRequestRotation(t *testing.T) {
	body := `{"id":"1","event":"order.paid","timestamp":"2026-01-01T00:00:00Z","data":{}}`
	now := time.Now().Unix()
	sig := client.StandardSignature("whsec_AAECAw==", "msg_1", now, []byte(body)) + " " +
		client.StandardSignature("old-secret", "msg_1", now, []byte(body))
	req := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		r.Header.Set("webhook-id", "msg_1")
		r.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		r.Header.Set("webhook-signature", sig)
		return r
	}
	for _, secrets := range [][]string{{"whsec_AAECAw=="}, {"old-secret"}, {"unrelated", "old-secret"}} {
		got, err := client.VerifyRequest(req(), secrets...)
		if err != nil || string(got) != body {
			t.Errorf("VerifyRequest(%q) = %q, %v", secrets, got, err)
		}
	}
	if _, err := client.VerifyRequest(req(), "unrelated"); !errors.Is(err, client.ErrNoMatch) {
		t.Errorf("unrelated secret: %v, want ErrNoMatch", err)
	}
	if _, err := client.VerifyRequest(req()); err == nil {
		t.Error("no secret accepted")
	}
}
