package webhooks_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"testing"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// TestSeedsURLIsAcceptedWithoutDNS: the seeds' https://myapp.com/webhook
// is saved on a machine whose DNS cannot answer at all (not only for a
// name that is not published); the connection is checked when it is made.
func TestSeedsURLIsAcceptedWithoutDNS(t *testing.T) {
	f := newFixture(t, "sqlite", outbound.Policy{})
	noDNS := func(_ context.Context, _, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "dial udp 10.96.0.10:53: connect: network is unreachable", Name: host, Server: "10.96.0.10:53"}
	}
	svc := webhooks.New(f.db, f.box, outbound.Policy{}, noDNS, f.bus, f.clock.Now)
	url := "https://myapp.com/webhook"
	w, _, err := svc.Create(context.Background(), f.ada, webhooks.Input{URL: &url, Events: []string{"user.created"}})
	if err != nil || w.URL != url {
		t.Fatalf("Create = %v, %v; want the seeds' URL accepted", w, err)
	}
}

// TestURLErrorsNameTheFieldOnce: the 422's message reads "url must …",
// not "url url …", and details.url says what is wrong.
func TestURLErrorsNameTheFieldOnce(t *testing.T) {
	f := newFixture(t, "sqlite", outbound.Policy{})
	word := regexp.MustCompile(`\burl\b`)
	for _, url := range []string{"http://myapp.com/webhook", "https://127.0.0.1/in", "https://db.private.test/in", "https://localhost/in", "not a url"} {
		t.Run(url, func(t *testing.T) {
			u := url
			_, _, err := f.hooks.Create(context.Background(), f.ada, webhooks.Input{URL: &u, Events: []string{"user.created"}})
			var fe *fluxhook.Error
			if !errors.As(err, &fe) || fe.Details["url"] == "" {
				t.Fatalf("err = %v, want a validation error naming url", err)
			}
			if n := len(word.FindAllString(fe.Message, -1)); n != 1 || word.MatchString(fe.Details["url"]) {
				t.Fatalf("message %q (details.url %q) names url %d times, want once", fe.Message, fe.Details["url"], n)
			}
		})
	}
}
