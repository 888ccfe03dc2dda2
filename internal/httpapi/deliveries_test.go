package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// TestWebhookTestDeliveriesAndRetry covers the seeds' test() and
// listDeliveries() and the manual retry, against receivers on loopback.
func TestWebhookTestDeliveriesAndRetry(t *testing.T) {
	e := newEventsEnv(t, envOpts{allowPrivate: true})
	tok, _ := e.user("hooks@example.com")
	const secret = "my-webhook-secret-key"
	var verified bool
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verified = signing.VerifyFluxbase(secret, body, r.Header.Get("X-Fluxbase-Signature")) && signing.Verify(secret, r.Header, body, 0, time.Now()) == nil
		w.Write([]byte(`{"received":true}`))
	}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte("boom"))
	}))
	defer broken.Close()
	mk := func(url string) string {
		return e.do("POST", "/webhooks", tok, map[string]any{"url": url, "events": []string{"user.created"}, "secret": secret}).must(t, 201).str("id")
	}
	good, bad := mk(ok.URL), mk(broken.URL)

	r := e.do("POST", "/webhooks/"+good+"/test", tok, nil).must(t, 200)
	if r.body["success"] != true || r.body["status_code"] != float64(200) || r.str("response_body") != `{"received":true}` || !verified {
		t.Fatalf("test of a working endpoint: %s (signatures verified: %v)", r.raw, verified)
	}
	r = e.do("POST", "/webhooks/"+bad+"/test", tok, nil).must(t, 200)
	if r.body["success"] != false || r.body["status_code"] != float64(500) || r.str("response_body") != "boom" || r.str("error") == "" {
		t.Fatalf("test of a failing endpoint: %s", r.raw)
	}

	list := e.do("GET", "/webhooks/"+bad+"/deliveries?limit=100", tok, nil).must(t, 200)
	ds := list.body["deliveries"].([]any)
	if len(ds) != 1 {
		t.Fatalf("deliveries: %s", list.raw)
	}
	d := ds[0].(map[string]any)
	if d["event"] != "webhook.test" || d["status"] != "failed" || d["status_code"] != float64(500) || d["attempt"] != float64(1) ||
		d["payload"].(map[string]any)["data"].(map[string]any)["webhook_id"] != bad {
		t.Fatalf("delivery record: %v", d)
	}
	e.do("GET", "/webhooks/"+bad+"/deliveries?limit=1001", tok, nil).must(t, 422)

	// A failed delivery can be retried by hand: a new attempt is queued.
	retry := e.do("POST", "/webhooks/"+bad+"/deliveries/"+d["delivery_id"].(string)+"/retry", tok, nil).must(t, 202)
	if retry.str("status") != "pending" || retry.body["attempt"] != float64(2) || retry.str("delivery_id") != d["delivery_id"] {
		t.Fatalf("retry: %s", retry.raw)
	}
	stream, err := e.js.Stream(testenv.Context(t, 5*time.Second), events.StreamDeliveries)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(testenv.Context(t, 5*time.Second)); err != nil || info.State.Msgs != 1 {
		t.Fatalf("the retry did not queue one job: %+v %v", info, err)
	}
	// A delivered one cannot be retried; another webhook's delivery is not found.
	gd := e.do("GET", "/webhooks/"+good+"/deliveries", tok, nil).must(t, 200).body["deliveries"].([]any)[0].(map[string]any)
	e.do("POST", "/webhooks/"+good+"/deliveries/"+gd["delivery_id"].(string)+"/retry", tok, nil).must(t, 409)
	e.do("POST", "/webhooks/"+good+"/deliveries/"+d["delivery_id"].(string)+"/retry", tok, nil).must(t, 404)
	other, _ := e.user("other@example.com")
	e.do("GET", "/webhooks/"+bad+"/deliveries", other, nil).must(t, 404)
	e.do("POST", "/webhooks/"+bad+"/test", other, nil).must(t, 404)
}
