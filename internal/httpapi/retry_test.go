package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRetryTakesEitherIDOfADeliveryRow: a delivery row shows both its own
// id and its delivery_id; the retry route accepts either, and a row of
// another webhook stays not found.
func TestRetryTakesEitherIDOfADeliveryRow(t *testing.T) {
	e := newEventsEnv(t, envOpts{allowPrivate: true})
	tok, _ := e.user("retry@example.com")
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer broken.Close()
	mk := func() string {
		return e.do("POST", "/webhooks", tok, map[string]any{"url": broken.URL, "events": []string{"user.created"}}).must(t, 201).str("id")
	}
	hook, other := mk(), mk()
	row := func(hook string) map[string]any {
		e.do("POST", "/webhooks/"+hook+"/test", tok, nil).must(t, 200)
		return e.do("GET", "/webhooks/"+hook+"/deliveries", tok, nil).must(t, 200).body["deliveries"].([]any)[0].(map[string]any)
	}
	d := row(hook)
	if d["id"] == d["delivery_id"] {
		t.Fatalf("a row whose id is its delivery_id proves nothing: %v", d)
	}
	retry := e.do("POST", "/webhooks/"+hook+"/deliveries/"+d["id"].(string)+"/retry", tok, nil).must(t, 202)
	if retry.str("delivery_id") != d["delivery_id"] || retry.body["attempt"] != float64(2) {
		t.Fatalf("retry by the row's id: %s", retry.raw)
	}
	d2 := row(hook)
	e.do("POST", "/webhooks/"+hook+"/deliveries/"+d2["delivery_id"].(string)+"/retry", tok, nil).must(t, 202)
	// Another webhook's row, by either id, is not this webhook's delivery.
	o := row(other)
	e.do("POST", "/webhooks/"+hook+"/deliveries/"+o["id"].(string)+"/retry", tok, nil).must(t, 404)
	e.do("POST", "/webhooks/"+hook+"/deliveries/"+o["delivery_id"].(string)+"/retry", tok, nil).must(t, 404)
}
