package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The dashboard in a real browser: headless Chromium from Debian's
// packages (scripts/install-chromium.sh, which make test runs first),
// driven with chromedp through the all-in-one binary. Screenshots of the
// main pages go to FLUXHOOK_SCREENSHOT_DIR, or to a directory under the
// system's temporary directory that the test names in its log.

// chromiumPath finds the browser: FLUXHOOK_CHROMIUM, or Debian's chromium
// on PATH. Without one the test is skipped, except under CI=true, where
// a missing browser fails the run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLUXHOOK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium: run scripts/install-chromium.sh (as root it installs Debian's chromium), or set FLUXHOOK_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// screenshotDir is where the screenshots go.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FLUXHOOK_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "fluxhook-dashboard-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserTab is one tab, with what its page said on the console.
type browserTab struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	mu      sync.Mutex
	console []string
}

func newTab(t *testing.T, parent context.Context, base, shots string, opts ...chromedp.ContextOption) *browserTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	b := &browserTab{t: t, ctx: ctx, base: base, shots: shots}
	if err := chromedp.Do(ctx); err != nil { // start the browser (or the tab)
		t.Fatalf("start Chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				b.mu.Lock()
				b.console = append(b.console, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions with a deadline, failing the test with what it was doing.
func (b *browserTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage text:\n%s\nconsole: %v", what, err, b.text(), b.consoleLines())
	}
}

func (b *browserTab) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

func (b *browserTab) consoleLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

func (b *browserTab) eval(what, expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitText waits until the page shows text.
func waitText(text string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(text)
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body && document.body.innerText.includes(%s)`, q),
		chromedp.WithPollingTimeout(15*time.Second))
}

// button and link select by their visible text.
func button(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, text))
}

func link(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//a[normalize-space()=%q]`, text))
}

// heading waits for the page whose h1 is text.
func heading(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[normalize-space()=%q]`, text)))
}

func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// a11yCheck lists what a page gets wrong for keyboard and screen-reader
// users: form controls without a label, buttons and links without a
// name, images without alt, not exactly one h1, a stray "null", and text whose contrast
// with its background is below WCAG AA (4.5:1, or 3:1 for large text).
const a11yCheck = `(() => {
  const out = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const name = (el) => (el.getAttribute('aria-label') || el.textContent || '').trim() ||
    (el.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)).filter(Boolean).map((e) => e.textContent).join(' ').trim();
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) out.push('no label: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (visible(el) && !name(el)) out.push('no name: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) out.push('no alt: ' + el.outerHTML.slice(0, 80));
  const stray = document.body.innerText.match(/\b(null|undefined|NaN)\b|\[object Object\]/);
  if (stray) out.push('stray text: ' + stray[0]);
  const h1s = document.querySelectorAll('h1').length;
  if (h1s !== 1) out.push(h1s + ' h1 elements');
  const rgb = (c) => { const m = c.match(/[\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length < 4 || c[3] > 0.9) return c; } return [255, 255, 255]; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !visible(el) || el.closest('.visually-hidden, option, [hidden]')) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    if (el.closest('button:disabled')) continue;
    const fg = rgb(el instanceof SVGElement ? st.fill : st.color);
    const l1 = lum(fg), l2 = lum(bg(el.closest('svg') || el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    if (ratio < need) out.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': "' + n.textContent.trim().slice(0, 40) + '"');
  }
  return JSON.stringify(out);
})()`

// checkA11y fails the test with what a11yCheck finds on the current page.
func (b *browserTab) checkA11y(page string) {
	b.t.Helper()
	if got := b.eval("accessibility of "+page, a11yCheck); got != "[]" {
		b.t.Errorf("%s: accessibility problems: %s", page, got)
	}
}

// TestE2EDashboardInBrowser: an operator's morning in Chromium against
// the all-in-one: sign in, create a webhook, publish an event, see its
// delivery fail and every attempt, retry it, test and rotate, create a
// client key, invite a colleague, and accept as that colleague in a
// fresh browser context.
func TestE2EDashboardInBrowser(t *testing.T) {
	skipShort(t)
	t.Parallel() // see parallelNote: it overlaps the scenarios that wait
	chromium := chromiumPath(t)
	start := time.Now()
	s := NewAllInOne(t, "1s") // two attempts, then the delivery is failed
	base := strings.TrimSuffix(s.API.API, "/api/v1")
	shots := screenshotDir(t)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-GB"), chromedp.Flag("hide-scrollbars", true))...)
	t.Cleanup(cancel)
	tab := newTab(t, alloc, base, shots)

	// A receiver that answers 500 to everything, and one that works.
	rcv := NewReceiver(t, webhookSecret)
	rcv.FailFirst(1 << 20)
	good := NewReceiver(t, webhookSecret)

	// Signed out, the dashboard asks to sign in.
	tab.do("open the dashboard", chromedp.Navigate(base+"/webhooks"), heading("Sign in to Fluxhook"))
	tab.screenshot("sign-in")
	// The keyboard: each page moves focus to its heading, so the first Tab
	// goes on to the form; the skip link comes first in the tab order.
	tab.do("tab into the form", chromedp.KeyEvent("\t"))
	if got := tab.eval("focus", `document.activeElement.name + ' / ' + document.querySelector('a[href], button, input, select, textarea').textContent`); got != "email / Skip to content" {
		t.Errorf("focus after the first Tab / the first focusable element: %q, want the email field / the skip link", got)
	}
	// Signed in with the keyboard alone: type, Tab, type, Enter.
	tab.do("sign in",
		chromedp.KeyEvent(adminEmail), chromedp.KeyEvent("\t"), chromedp.KeyEvent(adminPassword), chromedp.KeyEvent("\r"),
		heading("Webhooks")) // back where it was going

	// The session: no token where another origin's script could read it.
	if got := tab.eval("storage", `JSON.stringify([localStorage.length, sessionStorage.length, document.cookie, location.href])`); got != fmt.Sprintf(`[0,0,"",%q]`, base+"/webhooks") {
		t.Fatalf("storage, readable cookies and URL after sign-in: %s", got)
	}

	// Create a webhook.
	// A mistake is explained, and the field it concerns is marked.
	tab.do("a webhook with a bad URL",
		chromedp.Click(button("New webhook")),
		chromedp.SendKeys(chromedp.CSS(`input[name=url]`), "ftp://example.com/hook"),
		chromedp.Click(button("Create webhook")),
		waitText("url "), chromedp.WaitVisible(chromedp.CSS(`input[name=url][aria-invalid=true]`)))
	tab.do("create a webhook",
		chromedp.SetValue(chromedp.CSS(`input[name=url]`), rcv.URL),
		chromedp.SetValue(chromedp.CSS(`input[name=events]`), "ui.*"),
		chromedp.SendKeys(chromedp.CSS(`input[name=description]`), "Orders service"),
		chromedp.SendKeys(chromedp.CSS(`input[name=secret]`), webhookSecret),
		chromedp.Click(button("Create webhook")),
		waitText("shown only this once"))
	if secret := tab.eval("read the secret", `document.querySelector('.once input').value`); secret != webhookSecret {
		t.Fatalf("the secret shown once is %q, not the one given", secret)
	}
	tab.do("open the new webhook", chromedp.Click(link("Open the new webhook")), heading("Orders service"))
	hookID := tab.eval("webhook id", `location.pathname.split('/').pop()`)

	// Publish an event (the dispatcher learns of the new webhook
	// asynchronously: publish until one reaches it).
	for i := 0; ; i++ {
		Publish(t, s.API.API, s.Key, "ui.order_paid", newIDs(1)[0], map[string]any{"order": "o-1", "total": 42})
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) && rcv.Total() == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if rcv.Total() > 0 {
			break
		}
		if i == 10 {
			t.Fatal("no event reached the new webhook")
		}
	}

	// The delivery fails twice and is failed; the log shows it.
	failedURL := base + "/deliveries?webhook_id=" + hookID + "&status=failed"
	deadline := time.Now().Add(20 * time.Second)
	for {
		tab.do("the failed deliveries", chromedp.Navigate(failedURL), heading("Deliveries"))
		if strings.Contains(tab.text(), "ui.order_paid") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed delivery listed:\n%s", tab.text())
		}
		time.Sleep(500 * time.Millisecond)
	}
	tab.screenshot("deliveries")
	tab.checkA11y("deliveries")
	tab.do("open the delivery",
		chromedp.Click(chromedp.CSS(`table tbody tr th a`)),
		heading("Delivery of ui.order_paid"),
		waitText("Attempt 2"), waitText("Attempt 1"), waitText("HTTP 500"), waitText(`"order": "o-1"`), waitText("webhook-signature"))
	tab.screenshot("delivery")
	tab.checkA11y("delivery")

	// Retried by hand while the endpoint still fails, it fails again.
	tab.do("retry the delivery", chromedp.Click(button("Retry this delivery")), waitText("Attempt 3"), waitText("Attempt 3 is queued"))
	tab.do("the retry's attempt", waitText("Attempt 3: Failed"))

	// Fix the webhook's URL, then retry the failed delivery from the log:
	// the fourth attempt reaches the working endpoint.
	// A filter that does not parse is explained where it is; retries by
	// hand are sent whatever the filter says.
	tab.do("a filter that does not parse", chromedp.Navigate(base+"/webhooks/"+hookID), heading("Orders service"),
		chromedp.Click(button("Edit")), chromedp.SetValue(chromedp.CSS(`textarea[name=filter]`), "data.total >"),
		chromedp.Click(button("Save changes")),
		waitText("Syntax error"), chromedp.WaitVisible(chromedp.CSS(`textarea[name=filter][aria-invalid=true]`)))
	tab.do("fix the URL and set a filter", chromedp.SetValue(chromedp.CSS(`input[name=url]`), good.URL),
		chromedp.SetValue(chromedp.CSS(`textarea[name=filter]`), "data.total > 40"),
		chromedp.Click(button("Save changes")), waitText(good.URL), waitText("data.total > 40"))
	tab.do("retry from the log", chromedp.Navigate(failedURL), heading("Deliveries"),
		chromedp.Click(button("Retry")), waitText("Attempt 4 queued"))
	deliveryURL := tab.eval("the delivery", `document.querySelector('table tbody tr th a').href`)
	deliveryID := deliveryURL[strings.LastIndex(deliveryURL, "/")+1:]
	deadline = time.Now().Add(20 * time.Second)
	for {
		tab.do("the delivery again", chromedp.Navigate(deliveryURL), heading("Delivery of ui.order_paid"))
		if strings.Contains(tab.text(), "Attempt 4: Delivered") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt 4 not delivered:\n%s", tab.text())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := len(good.Find(func(q Request) bool { return q.Event == "ui.order_paid" && q.Status == 200 })); n != 1 {
		t.Fatalf("the fixed endpoint got the event %d times with success, want 1", n)
	}
	if n, bad := good.SigFailures(); n != 0 {
		t.Fatalf("signatures that did not verify: %v", bad)
	}

	// Send a test, and rotate the secret.
	tab.do("test the webhook", chromedp.Navigate(base+"/webhooks/"+hookID), heading("Orders service"),
		chromedp.Click(button("Send a test event")), waitText("The test was delivered"), waitText("HTTP 200"))
	tab.do("rotate the secret", chromedp.Click(button("Rotate the secret")),
		chromedp.Click(chromedp.Search(`//dialog//button[normalize-space()='Rotate']`)), waitText("keeps signing until"))
	if secret := tab.eval("the new secret", `document.querySelector('.once input').value`); !strings.HasPrefix(secret, "whsec_") || secret == webhookSecret {
		t.Fatalf("rotated secret %q", secret)
	}

	// Replay the last hour from the webhook's page: its progress is
	// followed to the end, and the fixed endpoint gets the event again
	// with the same webhook-id.
	before := len(good.Find(func(q Request) bool { return q.Event == "ui.order_paid" && q.Status == 200 }))
	tab.do("replay the last hour", chromedp.Click(button("Replay…")), chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Replay events"]`)),
		chromedp.Click(button("Replay")),
		chromedp.WaitVisible(chromedp.Search(`//section[@aria-label='Replay']//dd[contains(., 'done')]`)),
		waitText("1 for this webhook"))
	waitFor(t, 20*time.Second, func() bool {
		return len(good.Find(func(q Request) bool { return q.Event == "ui.order_paid" && q.Status == 200 })) > before
	}, "the replayed event at the endpoint")
	ids := map[string]bool{}
	for _, q := range good.Find(func(q Request) bool { return q.Event == "ui.order_paid" }) {
		ids[q.WebhookID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("the replayed event came with webhook-ids %v, want the original one", ids)
	}

	// Ordered delivery is set from the form and shown on the page.
	tab.do("turn ordered delivery on", chromedp.Navigate(base+"/webhooks/"+hookID), heading("Orders service"),
		chromedp.Click(button("Edit")), chromedp.SetValue(chromedp.CSS(`select[name=ordering]`), "fifo"),
		chromedp.Click(button("Save changes")),
		// The page's details, not the form's option of the same words.
		chromedp.WaitVisible(chromedp.Search(`//dt[normalize-space()='Delivery order']/following-sibling::dd[1][normalize-space()='In order (FIFO per ordering key)']`)))
	if _, _, w := call(t, "GET", s.API.API+"/webhooks/"+hookID, nil, s.AdminToken); w["ordering"] != "fifo" {
		t.Fatalf("the API says ordering %v after the form set it, want fifo", w["ordering"])
	}
	tab.screenshot("webhook")
	tab.checkA11y("webhook")
	tab.do("the webhook list", chromedp.Navigate(base+"/webhooks"), heading("Webhooks"), waitText("Orders service"), waitText("%"))
	tab.screenshot("webhooks")
	tab.checkA11y("webhooks")
	tab.do("the overview", chromedp.Navigate(base+"/?hours=1"), heading("Overview"), chromedp.WaitVisible(chromedp.CSS(`svg.chart rect.bar-fail`)))
	tab.screenshot("overview")
	tab.checkA11y("overview")

	// A client key, shown once.
	tab.do("create a client key", chromedp.Navigate(base+"/keys"), heading("Client keys"),
		chromedp.Click(button("New client key")),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Billing service"),
		chromedp.Click(button("Create key")), waitText("shown only this once"))
	if key := tab.eval("the key", `document.querySelector('.once input').value`); !strings.HasPrefix(key, "fbk_") {
		t.Fatalf("client key shown: %q", key)
	}
	tab.screenshot("keys")
	tab.checkA11y("keys")

	// Invite a colleague, and accept as them in a fresh browser context.
	tab.do("invite", chromedp.Navigate(base+"/invitations"), heading("Invitations"),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "colleague@example.com"),
		chromedp.Click(button("Send invitation")), waitText("send the link yourself"))
	inviteLink := tab.eval("the link", `document.querySelector('.once input').value`)
	if !strings.Contains(inviteLink, "/invite/") {
		t.Fatalf("invite link %q", inviteLink)
	}
	tab.screenshot("invitations")
	tab.checkA11y("invitations")

	// The link is on the public URL (localhost here), another origin than
	// the one the admin used: the colleague's session lives there.
	link, err := url.Parse(inviteLink)
	if err != nil {
		t.Fatal(err)
	}
	cbase := link.Scheme + "://" + link.Host
	colleague := newTab(t, tab.ctx, cbase, shots, chromedp.WithNewBrowserContext())
	colleague.do("open the invitation", chromedp.Navigate(inviteLink), heading("Join the Fluxhook dashboard"), waitText("colleague@example.com"))
	colleague.screenshot("invite")
	colleague.checkA11y("invite")
	colleague.do("accept",
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Grace Colleague"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "colleague-password-1"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password2]`), "colleague-password-1"),
		chromedp.Click(button("Join and sign in")),
		heading("Overview"), waitText("Grace Colleague"))
	// A page load picks the session up from the cookie (refresh rotation).
	colleague.do("reload", chromedp.Navigate(cbase+"/keys"), heading("Client keys"), waitText("Grace Colleague"))
	colleague.do("sign out", chromedp.Click(button("Sign out")), heading("Sign in to Fluxhook"))
	colleague.do("signed out for good", chromedp.Navigate(cbase+"/keys"), heading("Sign in to Fluxhook"))

	// A narrow window.
	// A narrow window: nothing makes the page scroll sideways (wide
	// tables scroll inside their own box), and the navigation is there.
	tab.do("narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/webhooks/"+hookID), heading("Orders service"))
	tab.screenshot("narrow")
	tab.checkA11y("narrow")
	for _, page := range []struct{ path, h1 string }{
		{"/webhooks/" + hookID, "Orders service"}, {"/webhooks", "Webhooks"}, {"/deliveries", "Deliveries"},
		{"/deliveries/" + deliveryID, "Delivery of ui.order_paid"}, {"/keys", "Client keys"}, {"/?hours=1", "Overview"},
	} {
		tab.do("narrow "+page.path, chromedp.Navigate(base+page.path), heading(page.h1))
		if got := tab.eval("overflow at "+page.path, `JSON.stringify([document.documentElement.scrollWidth <= window.innerWidth, [...document.querySelectorAll('nav a')].some((a) => a.getBoundingClientRect().width > 0)])`); got != "[true,true]" {
			t.Fatalf("at 390 px, %s: [fits the width, navigation visible] = %s", page.path, got)
		}
	}

	// The dark scheme keeps its contrast too.
	dark := chromedp.Action[chromedp.Void](func(ctx context.Context, tt *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tt, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return chromedp.Void{}, err
	})
	tab.do("dark", chromedp.EmulateViewport(1280, 900), dark, chromedp.Navigate(base+"/deliveries/"+deliveryID), heading("Delivery of ui.order_paid"))
	tab.screenshot("delivery-dark")
	tab.checkA11y("delivery, dark")
	tab.do("dark overview", chromedp.Navigate(base+"/?hours=1"), heading("Overview"), chromedp.WaitVisible(chromedp.CSS(`svg.chart rect.bar-fail`)))
	tab.checkA11y("overview, dark")

	// The accessibility check can fail: a faint, unlabelled addition fails it.
	tab.eval("spoil the page", `(() => { const m = document.querySelector('main'); const p = document.createElement('p');
		p.textContent = 'faint'; p.style.color = getComputedStyle(document.body).backgroundColor; m.append(p, document.createElement('input')); return ''; })()`)
	if got := tab.eval("the check on a spoilt page", a11yCheck); !strings.Contains(got, "contrast") || !strings.Contains(got, "no label") {
		t.Errorf("the accessibility check misses faint text and an unlabelled field: %s", got)
	}

	// The Content-Security-Policy holds: a page that tried to write HTML
	// from a string (what an injected script would do) is refused. In a
	// tab of its own, whose console is not checked.
	probe := newTab(t, tab.ctx, base, shots)
	probe.do("a page", chromedp.Navigate(base+"/keys"), heading("Client keys"))
	if got := probe.eval("write HTML", `(() => { try { document.body.innerHTML = '<img src=x>'; return 'allowed'; } catch (e) { return e.name; } })()`); got != "TypeError" {
		t.Errorf("writing HTML from a string: %s, want a TypeError from Trusted Types", got)
	}

	// Nothing came from another host, and the pages ran without errors
	// (a Content-Security-Policy violation is one).
	for _, b := range []*browserTab{tab, colleague} {
		if got := b.eval("resources", `JSON.stringify(performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(location.origin)))`); got != "[]" {
			t.Errorf("requests to other hosts: %s", got)
		}
		for _, line := range b.consoleLines() {
			// The sign-in page's first look for a session is answered 401,
			// and the deliberate mistakes (a URL, a filter) 422.
			if strings.Contains(line, "401") && strings.Contains(line, "/dashboard/session/refresh") ||
				strings.Contains(line, "422") && strings.Contains(line, "/api/v1/webhooks:") ||
				strings.Contains(line, "422") && strings.Contains(line, "/api/v1/webhooks/"+hookID+":") {
				continue
			}
			t.Errorf("browser console: %s", line)
		}
	}
	t.Logf("dashboard walked through in %v; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}
