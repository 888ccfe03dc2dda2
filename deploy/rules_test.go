package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"sigs.k8s.io/yaml"
)

const (
	rulesPath     = "k8s/base/monitoring/prometheusrule.yaml"
	rulesTestPath = "k8s/base/monitoring/alerts_test.yaml"
	dashboardPath = "k8s/base/monitoring/fluxhook-delivery-health.json"
	readmePath    = "README.md"
)

// loadRules decodes the PrometheusRule strictly.
func loadRules(t testing.TB) *prometheusRule {
	t.Helper()
	b, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var pr prometheusRule
	if err := yaml.UnmarshalStrict(b, &pr); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	return &pr
}

// promtool returns the path of promtool, which `make test` installs
// (scripts/install-promtool.sh) from Debian's prometheus package.
func promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool (Debian's prometheus package; `bash scripts/install-promtool.sh` as root)")
	}
	return p
}

// TestAlertRulesWithPromtool: `promtool check rules` and `promtool test
// rules` on the PrometheusRule's spec, as a plain rule file.
func TestAlertRulesWithPromtool(t *testing.T) {
	bin := promtool(t)
	pr := loadRules(t)
	dir := t.TempDir()
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fluxhook.rules.yaml"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(rulesTestPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "fluxhook.rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else {
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestEveryAlertIsDocumentedAndTested: each alert has a summary, a
// description, a runbook_url whose anchor is a heading of
// deploy/README.md, a severity, and a unit test that expects it to fire.
func TestEveryAlertIsDocumentedAndTested(t *testing.T) {
	pr := loadRules(t)
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "#") {
			anchors[slug(strings.TrimLeft(line, "# "))] = true
		}
	}
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	b, err := os.ReadFile(rulesTestPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	want := []string{"DeliveryFailureRatio", "EventToDeliveryLatency", "ConsumerLag", "OutboxBacklog",
		"DeadLetters", "WebhooksAutoDisabled", "RateLimiterFailingOpen", "ComponentDown"}
	n := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			for i, w := range want {
				if strings.Contains(r.Alert, w) {
					want[i] = ""
				}
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, k)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s: no severity label", r.Alert)
			}
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "/deploy/README.md#")
			if anchor == "" || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q does not point at a heading of deploy/README.md", r.Alert, r.Annotations["runbook_url"])
			}
			if !fires[r.Alert] {
				t.Errorf("%s: no unit test in %s expects it to fire", r.Alert, rulesTestPath)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no unit test in %s expects it to stay quiet", r.Alert, rulesTestPath)
			}
		}
	}
	for _, w := range want {
		if w != "" {
			t.Errorf("no alert about %s", w)
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

// slug is GitHub's anchor of a Markdown heading.
func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------
// Metric names in PromQL.

var (
	quoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	variable = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_]\w*`)
	ident    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	grouping = regexp.MustCompile(`(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	braces   = regexp.MustCompile(`\{[^}]*\}`)
)

// metricNames returns the metric names a PromQL expression reads: the
// identifiers starting with fluxhook_, process_ or go_, and up. Label
// values, label matchers, grouping labels and Grafana variables are
// dropped first.
func metricNames(expr string) []string {
	e := variable.ReplaceAllString(expr, " ")
	e = quoted.ReplaceAllString(e, `""`)
	e = braces.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	var out []string
	for _, id := range ident.FindAllString(e, -1) {
		if id == "up" || strings.HasPrefix(id, "fluxhook_") || strings.HasPrefix(id, "process_") || strings.HasPrefix(id, "go_") {
			out = append(out, id)
		}
	}
	return out
}

// dashboardExprs returns every PromQL query of the Grafana dashboard:
// panel targets (rows included) and query variables.
func dashboardExprs(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var exprs []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("dashboard panel %q has a target without expr", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			_ = json.Unmarshal(v.Query, &q.Query)
		}
		exprs = append(exprs, q.Query)
	}
	return exprs
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// referencedMetrics returns, for each metric named in the rules and the
// dashboard, where it is named.
func referencedMetrics(t testing.TB) map[string][]string {
	t.Helper()
	refs := map[string][]string{}
	for _, g := range loadRules(t).Spec.Groups {
		for _, r := range g.Rules {
			for _, m := range metricNames(r.Expr) {
				refs[m] = append(refs[m], "alert "+r.Alert)
			}
		}
	}
	for _, e := range dashboardExprs(t) {
		for _, m := range metricNames(e) {
			refs[m] = append(refs[m], "dashboard")
		}
	}
	return refs
}

func TestMetricNameTokenizer(t *testing.T) {
	got := metricNames(`sum by (outcome, fluxhook_x) (rate(fluxhook_delivery_attempts_total{job=~"$job",outcome="fluxhook_nope"}[$__rate_interval])) / on(job) group_left(version) fluxhook_build_info or absent(up{job="a"}) > process_cpu_seconds_total`)
	want := []string{"fluxhook_delivery_attempts_total", "fluxhook_build_info", "up", "process_cpu_seconds_total"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
	dash := bytes.Count(mustRead(t, dashboardPath), []byte(`"expr"`))
	if dash < 10 {
		t.Errorf("the dashboard has %d queries; the test reads it wrong", dash)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
