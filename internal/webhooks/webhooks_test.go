package webhooks_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// TestURLRules: API.md's url rules, as a user creating a webhook meets them.
func TestURLRules(t *testing.T) {
	production := outbound.Policy{}
	insecure := outbound.Policy{AllowInsecure: true}
	private := outbound.Policy{AllowPrivate: true}
	privateInsecure := outbound.Policy{AllowPrivate: true, AllowInsecure: true}
	cases := []struct {
		policy outbound.Policy
		url    string
		ok     bool
	}{
		{production, "https://hooks.example.com/in", true},
		{production, "https://hooks.example.com:8443/in?tenant=1", true},
		{production, "http://hooks.example.com/in", false},
		{production, "", false},
		{production, "hooks.example.com/in", false},
		{production, "ftp://hooks.example.com/in", false},
		{production, "https://user:pw@hooks.example.com/in", false},
		{production, "https://127.0.0.1/in", false},
		{production, "https://[::1]/in", false},
		{production, "https://10.0.0.7/in", false},
		{production, "https://192.168.1.1/in", false},
		{production, "https://169.254.169.254/latest/meta-data", false},
		{production, "https://localhost/in", false},
		{production, "https://2130706433/in", false}, // 127.0.0.1 in disguise
		{production, "https://db.private.test/in", false},
		{production, "https://imds.metadata.test/in", false},
		{production, "https://not-yet.nxdomain.test/in", true}, // "a name that does not resolve yet is accepted"
		{insecure, "http://hooks.example.com/in", true},
		{insecure, "http://127.0.0.1/in", false},
		{private, "https://127.0.0.1:8080/in", true},
		{private, "https://db.private.test/in", true},
		{private, "http://127.0.0.1/in", false}, // private does not imply insecure
		// "Cloud metadata addresses are refused whatever the settings."
		{privateInsecure, "http://169.254.169.254/latest/meta-data", false},
		{privateInsecure, "http://[fd00:ec2::254]/", false},
		{privateInsecure, "https://metadata.google.internal/", false},
		{privateInsecure, "https://imds.metadata.test/in", false},
	}
	f := newFixture(t, "sqlite", production)
	for _, tc := range cases {
		name := fmt.Sprintf("%+v %s", tc.policy, tc.url)
		t.Run(name, func(t *testing.T) {
			svc := webhooks.New(f.db, f.box, tc.policy, fakeDNS, f.bus, f.clock.Now)
			url := tc.url
			w, _, err := svc.Create(context.Background(), f.ada, webhooks.Input{URL: &url, Events: []string{"user.created"}})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if w.URL != tc.url {
					t.Fatalf("stored url %q, want %q", w.URL, tc.url)
				}
				return
			}
			invalid(t, err, "url")
		})
	}

	// Surrounding spaces (a paste from a terminal) are trimmed, not refused.
	w, _ := f.create(t, f.ada, "  https://hooks.example.com/trimmed \n", "user.created")
	if w.URL != "https://hooks.example.com/trimmed" {
		t.Fatalf("url = %q, want it trimmed", w.URL)
	}
	// An update is held to the same rules.
	_, err := f.hooks.Update(context.Background(), f.ada, w.ID, webhooks.Input{URL: strp("https://10.0.0.7/in")})
	invalid(t, err, "url")
	if got, _ := f.db.Webhook(context.Background(), w.ID); got.URL != "https://hooks.example.com/trimmed" {
		t.Fatalf("a refused update changed the url to %q", got.URL)
	}
}

// TestEventPatterns: API.md "events: names from the catalogue, custom
// names (^[a-z0-9_]+(\.[a-z0-9_]+)+$), a prefix wildcard (user.*) or *".
func TestEventPatterns(t *testing.T) {
	name128 := "a." + strings.Repeat("b", 126)
	cases := []struct {
		pattern string
		ok      bool
	}{
		{"user.created", true},
		{"email.verified", true},
		{"order.line_item.shipped", true},
		{"v2.order_42.created", true},
		{"user.*", true},
		{"order.line_item.*", true},
		{"*", true},
		{name128, true},
		{name128 + "b", false},
		{"", false},
		{"user", false},
		{"User.created", false},
		{"user.Created", false},
		{"user-created.x", false},
		{"user.", false},
		{".user", false},
		{"user..created", false},
		{"user created", false},
		{"user.created ", false},
		{"*.created", false},
		{"user*", false},
		{"user.*.created", false},
		{"user.**", false},
		{"**", false},
		{".*", false},
	}
	f := newFixture(t, "sqlite", outbound.Policy{})
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			url := "https://hooks.example.com/in"
			w, _, err := f.hooks.Create(context.Background(), f.ada, webhooks.Input{URL: &url, Events: []string{"user.created", tc.pattern}})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !slices.Contains(w.Events, tc.pattern) {
					t.Fatalf("events = %v, want %q among them", w.Events, tc.pattern)
				}
				return
			}
			invalid(t, err, "events")
		})
	}
}

func TestEventListLimitsAndRepeats(t *testing.T) {
	f := newFixture(t, "sqlite", outbound.Policy{})
	ctx := context.Background()
	url := "https://hooks.example.com/in"
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("custom.e%d", i)
		}
		return out
	}
	for _, n := range []int{0, 101} {
		_, _, err := f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: many(n)})
		invalid(t, err, "events")
	}
	w, _, err := f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: many(100)})
	if err != nil || len(w.Events) != 100 {
		t.Fatalf("100 events: %v, %d stored", err, len(w.Events))
	}
	w, _, err = f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: []string{"user.*", "user.created", "user.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Events, []string{"user.*", "user.created"}) {
		t.Fatalf("events = %v, want each once in request order", w.Events)
	}
	_, _, err = f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url})
	invalid(t, err, "events")
}

// TestHeaderRules: a webhook's own headers may not override what the
// transport or the signature sets, since receivers must trust those.
func TestHeaderRules(t *testing.T) {
	twentyOne := map[string]string{}
	for i := range 21 {
		twentyOne[fmt.Sprintf("X-H%d", i)] = "v"
	}
	cases := []struct {
		name    string
		headers map[string]string
		want    map[string]string // nil: refused
	}{
		{"names are canonicalised", map[string]string{"x-tenant": "acme", "authorization": "Bearer t"}, map[string]string{"X-Tenant": "acme", "Authorization": "Bearer t"}},
		{"empty map is no headers", map[string]string{}, map[string]string{}},
		{"Content-Type", map[string]string{"content-type": "text/plain"}, nil},
		{"User-Agent", map[string]string{"User-Agent": "evil"}, nil},
		{"Host", map[string]string{"Host": "other.example.com"}, nil},
		{"X-Fluxbase-Signature", map[string]string{"x-fluxbase-signature": "00"}, nil},
		{"webhook-signature", map[string]string{"webhook-signature": "v1,xx"}, nil},
		{"webhook-id", map[string]string{"Webhook-Id": "msg_1"}, nil},
		{"any Webhook- header", map[string]string{"Webhook-Custom": "x"}, nil},
		{"Transfer-Encoding", map[string]string{"Transfer-Encoding": "chunked"}, nil},
		{"name with a space", map[string]string{"X Tenant": "acme"}, nil},
		{"name with a colon", map[string]string{"X-Tenant:": "acme"}, nil},
		{"value with a line break", map[string]string{"X-Tenant": "acme\r\nX-Admin: 1"}, nil},
		{"value with NUL", map[string]string{"X-Tenant": "a\x00b"}, nil},
		{"value of 1024 bytes", map[string]string{"X-Big": strings.Repeat("v", 1024)}, map[string]string{"X-Big": strings.Repeat("v", 1024)}},
		{"value of 1025 bytes", map[string]string{"X-Big": strings.Repeat("v", 1025)}, nil},
		{"21 headers", twentyOne, nil},
	}
	f := newFixture(t, "sqlite", outbound.Policy{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := "https://hooks.example.com/in"
			w, _, err := f.hooks.Create(context.Background(), f.ada, webhooks.Input{URL: &url, Events: []string{"*"}, Headers: headersp(tc.headers)})
			if tc.want == nil {
				invalid(t, err, "headers")
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			stored, err := f.db.Webhook(context.Background(), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(stored.Headers, tc.want) {
				t.Fatalf("stored headers %v, want %v", stored.Headers, tc.want)
			}
		})
	}
}

func TestOtherFieldLimits(t *testing.T) {
	f := newFixture(t, "sqlite", outbound.Policy{})
	url := "https://hooks.example.com/in"
	cases := []struct {
		name  string
		in    webhooks.Input
		field string // "" when valid
	}{
		{"rate limit 0", webhooks.Input{RateLimitPerSecond: intp(0)}, "rate_limit_per_second"},
		{"rate limit 1", webhooks.Input{RateLimitPerSecond: intp(1)}, ""},
		{"rate limit 10000", webhooks.Input{RateLimitPerSecond: intp(10000)}, ""},
		{"rate limit 10001", webhooks.Input{RateLimitPerSecond: intp(10001)}, "rate_limit_per_second"},
		{"description of 1000 characters", webhooks.Input{Description: strp(strings.Repeat("é", 1000))}, ""},
		{"description of 1001 characters", webhooks.Input{Description: strp(strings.Repeat("é", 1001))}, "description"},
		{"secret of 8 characters", webhooks.Input{Secret: strp("12345678")}, ""},
		{"secret of 7 characters", webhooks.Input{Secret: strp("1234567")}, "secret"},
		{"secret with a newline", webhooks.Input{Secret: strp("whsec_abcdefgh\n")}, "secret"},
		{"secret of 257 characters", webhooks.Input{Secret: strp(strings.Repeat("s", 257))}, "secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.URL, in.Events = &url, []string{"*"}
			_, _, err := f.hooks.Create(context.Background(), f.ada, in)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			invalid(t, err, tc.field)
		})
	}
}

var generatedSecret = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

// TestSecretsAreGeneratedOrGivenAndSealedAtRest: API.md "secret appears
// only in the create response (the one given, or a generated whsec_…)";
// DESIGN.md "Secrets are encrypted at rest (AES-GCM with the configured key)".
func TestSecretsAreGeneratedOrGivenAndSealedAtRest(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		w, secret := f.create(t, f.ada, "https://hooks.example.com/in", "user.created")
		if !generatedSecret.MatchString(secret) {
			t.Fatalf("generated secret %q is not whsec_ and the base64 of 32 bytes", secret)
		}
		if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil || len(key) != 32 {
			t.Fatalf("secret key decodes to %d bytes (%v), want 32", len(key), err)
		}
		_, other := f.create(t, f.ada, "https://hooks.example.com/in", "user.created")
		if other == secret {
			t.Fatal("two webhooks got the same generated secret")
		}
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{secret}) {
			t.Fatalf("Secrets = %q, want the one shown at creation", got)
		}
		if rowsContain(t, f.raw, "webhooks", strings.TrimPrefix(secret, "whsec_")) {
			t.Fatal("the database holds the secret in clear")
		}

		given := "my-own-secret-value"
		url := "https://hooks.example.com/given"
		g, shown, err := f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: []string{"*"}, Secret: &given})
		if err != nil {
			t.Fatal(err)
		}
		if shown != given {
			t.Fatalf("create shows secret %q, want the one given", shown)
		}
		if got := f.secrets(t, g.ID); !slices.Equal(got, []string{given}) {
			t.Fatalf("Secrets = %q, want the given secret", got)
		}
		if rowsContain(t, f.raw, "webhooks", given) {
			t.Fatal("the database holds the given secret in clear")
		}

		// Only the configured key opens it.
		stored, err := f.db.Webhook(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		otherKey := webhooks.New(f.db, newBox(t, 'x'), outbound.Policy{}, fakeDNS, f.bus, f.clock.Now)
		if s, err := otherKey.Secrets(stored); err == nil {
			t.Fatalf("a service with another encryption key read the secret: %q", s)
		}
		// A sealed secret is bound to its webhook: copied onto another
		// webhook's row, it does not open.
		moved, err := f.db.Webhook(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		moved.SecretEnc = stored.SecretEnc
		if s, err := f.hooks.Secrets(moved); err == nil {
			t.Fatalf("webhook %s's sealed secret opened on webhook %s: %q", g.ID, w.ID, s)
		}
	})
}

// TestRotationKeepsTheOldSecretSigningFor24Hours: API.md "the old secret
// keeps signing beside the new one for 24 h".
func TestRotationKeepsTheOldSecretSigningFor24Hours(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		w, first := f.create(t, f.ada, "https://hooks.example.com/in", "user.created")

		second, err := f.hooks.RotateSecret(ctx, f.ada, w.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !generatedSecret.MatchString(second) || second == first {
			t.Fatalf("rotated secret %q: want a fresh generated whsec_ secret", second)
		}
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{second, first}) {
			t.Fatalf("right after rotation, Secrets = %q, want the new then the old", got)
		}
		f.clock.Advance(24*time.Hour - time.Second)
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{second, first}) {
			t.Fatalf("just under 24 h after rotation, Secrets = %q, want both", got)
		}
		f.clock.Advance(time.Second)
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{second}) {
			t.Fatalf("24 h after rotation, Secrets = %q, want only the new one", got)
		}

		// Rotating again within the overlap: the newest two sign, the
		// oldest stops at once.
		third := "given-rotation-secret"
		got, err := f.hooks.RotateSecret(ctx, f.ada, w.ID, &third)
		if err != nil || got != third {
			t.Fatalf("rotate to a given secret: %q, %v", got, err)
		}
		fourth, err := f.hooks.RotateSecret(ctx, f.ada, w.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{fourth, third}) {
			t.Fatalf("after two rotations, Secrets = %q, want the newest two", got)
		}

		bad := "short"
		if _, err := f.hooks.RotateSecret(ctx, f.ada, w.ID, &bad); err == nil {
			t.Fatal("rotating to an invalid secret succeeded")
		} else {
			invalid(t, err, "secret")
		}
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{fourth, third}) {
			t.Fatalf("a refused rotation changed the secrets to %q", got)
		}

		// A secret set by update replaces the current one at once: no overlap.
		replaced := "replaced-at-once"
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Secret: &replaced}); err != nil {
			t.Fatal(err)
		}
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{replaced}) {
			t.Fatalf("after a secret set by update, Secrets = %q, want only it", got)
		}

		if _, err := f.hooks.RotateSecret(ctx, f.bob, w.ID, nil); !fluxhook.IsNotFound(err) {
			t.Fatalf("another user rotating: err = %v, want not found", err)
		}
		if got := f.secrets(t, w.ID); !slices.Equal(got, []string{replaced}) {
			t.Fatalf("another user's rotation changed the secrets to %q", got)
		}
	})
}

// TestEveryChangeIsAnnouncedOnTheBus: the dispatchers' subscription
// caches and the workers' webhook caches are dropped on every change,
// and on nothing else.
func TestEveryChangeIsAnnouncedOnTheBus(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		w, _ := f.create(t, f.ada, "https://hooks.example.com/in", "user.created")
		if got := f.announced.take(); !slices.Equal(got, []string{w.ID}) {
			t.Fatalf("create announced %v, want [%s]", got, w.ID)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Events: []string{"user.*"}}); err != nil {
			t.Fatal(err)
		}
		if got := f.announced.take(); !slices.Equal(got, []string{w.ID}) {
			t.Fatalf("update announced %v, want [%s]", got, w.ID)
		}
		if _, err := f.hooks.RotateSecret(ctx, f.ada, w.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got := f.announced.take(); !slices.Equal(got, []string{w.ID}) {
			t.Fatalf("rotation announced %v, want [%s]", got, w.ID)
		}

		// Refused changes announce nothing.
		url := "http://insecure.example.com/"
		_, _, err := f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: []string{"*"}})
		invalid(t, err, "url")
		_, err = f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Events: []string{"Bad"}})
		invalid(t, err, "events")
		if _, err := f.hooks.Update(ctx, f.bob, w.ID, webhooks.Input{IsActive: boolp(false)}); !fluxhook.IsNotFound(err) {
			t.Fatalf("another user's update: err = %v, want not found", err)
		}
		if err := f.hooks.Delete(ctx, f.bob, w.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("another user's delete: err = %v, want not found", err)
		}
		if got := f.announced.take(); len(got) != 0 {
			t.Fatalf("refused changes announced %v, want nothing", got)
		}

		if err := f.hooks.Delete(ctx, f.ada, w.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.announced.take(); !slices.Equal(got, []string{w.ID}) {
			t.Fatalf("delete announced %v, want [%s]", got, w.ID)
		}
		if _, err := f.db.Webhook(ctx, w.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("deleted webhook: err = %v, want not found", err)
		}
	})
}

func TestUpdateChangesOnlyTheGivenFields(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		url := "https://hooks.example.com/in"
		w, secret, err := f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: []string{"user.created"},
			Description: strp("crm"), RateLimitPerSecond: intp(5), Headers: headersp(map[string]string{"X-Tenant": "acme"})})
		if err != nil {
			t.Fatal(err)
		}
		if !w.IsActive {
			t.Fatal("a new webhook is inactive; is_active defaults to true")
		}
		f.clock.Advance(time.Minute)
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Description: strp("erp")}); err != nil {
			t.Fatal(err)
		}
		got, err := f.db.Webhook(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Description != "erp" || got.URL != url || !slices.Equal(got.Events, []string{"user.created"}) ||
			got.RateLimitPerSecond == nil || *got.RateLimitPerSecond != 5 || got.Headers["X-Tenant"] != "acme" || !got.IsActive {
			t.Fatalf("after changing the description only: %+v", got)
		}
		if s := f.secrets(t, w.ID); !slices.Equal(s, []string{secret}) {
			t.Fatalf("an update without a secret changed the secrets to %q", s)
		}

		// Turning a disabled webhook back on clears why it was turned off.
		if _, err := f.db.SetWebhookFailing(ctx, w.ID, &[]time.Time{f.clock.Now()}[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.DisableWebhook(ctx, w.ID, "endpoint answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{URL: strp("https://hooks.example.com/v2")}); err != nil {
			t.Fatal(err)
		}
		got, _ = f.db.Webhook(ctx, w.ID)
		if got.IsActive || got.DisabledReason == nil || got.FailingSince == nil {
			t.Fatalf("an update that does not turn the webhook on cleared its disabled state: %+v", got)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{IsActive: boolp(true)}); err != nil {
			t.Fatal(err)
		}
		got, _ = f.db.Webhook(ctx, w.ID)
		if !got.IsActive || got.DisabledReason != nil || got.FailingSince != nil {
			t.Fatalf("after turning it back on: active %v, disabled_reason %v, failing_since %v; want active and both cleared",
				got.IsActive, got.DisabledReason, got.FailingSince)
		}
		if got.URL != "https://hooks.example.com/v2" {
			t.Fatalf("url = %q", got.URL)
		}
	})
}

// TestAnotherUsersWebhookDoesNotExist: another user's webhook is not
// found (its existence is not revealed); an admin sees every webhook.
func TestAnotherUsersWebhookDoesNotExist(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		adas, _ := f.create(t, f.ada, "https://hooks.example.com/ada", "*")
		f.clock.Advance(time.Second)
		bobs, _ := f.create(t, f.bob, "https://hooks.example.com/bob", "*")

		if _, err := f.hooks.Get(ctx, f.bob, adas.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("Get of another's webhook: err = %v, want not found", err)
		}
		if _, err := f.hooks.Update(ctx, f.bob, adas.ID, webhooks.Input{URL: strp("https://bob.example.com/")}); !fluxhook.IsNotFound(err) {
			t.Fatalf("Update of another's webhook: err = %v, want not found", err)
		}
		if err := f.hooks.Delete(ctx, f.bob, adas.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("Delete of another's webhook: err = %v, want not found", err)
		}
		if got, err := f.hooks.Get(ctx, f.ada, adas.ID); err != nil || got.URL != "https://hooks.example.com/ada" {
			t.Fatalf("ada's webhook after bob's attempts: %+v (%v)", got, err)
		}
		if _, err := f.hooks.Update(ctx, f.admin, bobs.ID, webhooks.Input{IsActive: boolp(false)}); err != nil {
			t.Fatalf("admin update of bob's webhook: %v", err)
		}

		ids := func(a *fluxhook.Actor) []string {
			hs, err := f.hooks.List(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, h := range hs {
				out = append(out, h.ID)
			}
			return out
		}
		if got := ids(f.ada); !slices.Equal(got, []string{adas.ID}) {
			t.Fatalf("ada lists %v, want only her own", got)
		}
		if got := ids(f.admin); !slices.Equal(got, []string{bobs.ID, adas.ID}) {
			t.Fatalf("admin lists %v, want every webhook newest first", got)
		}
	})
}
