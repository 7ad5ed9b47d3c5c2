package dashboard

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const repoRoot = "../../.."

// knownMetrics collects the metric names the code registers, by reading
// the Go sources of the repository (Name: "haochaping_..." or Namespace +
// Subsystem + Name), so the rules and the Grafana dashboard cannot refer to
// a metric that no module exports.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	full := regexp.MustCompile(`Name:\s*"(haochaping_[a-z0-9_]+)"`)
	parts := regexp.MustCompile(`Namespace:\s*"(haochaping)",\s*Subsystem:\s*"([a-z0-9_]+)",\s*Name:\s*"([a-z0-9_]+)"`)
	known := map[string]bool{"up": true} // Prometheus's own scrape metric
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range full.FindAllSubmatch(b, -1) {
			known[string(m[1])] = true
		}
		for _, m := range parts.FindAllSubmatch(b, -1) {
			known[string(m[1])+"_"+string(m[2])+"_"+string(m[3])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"haochaping_cases_overdue", "haochaping_deadline_worker_lag_seconds", "haochaping_redis_up", "haochaping_ivr_calls_in_state"} {
		if !known[want] {
			t.Fatalf("metric scan misses %s", want)
		}
	}
	return known
}

var metricRE = regexp.MustCompile(`\b(haochaping_[a-z0-9_]+|up)\b`)

// checkExpr reports metric names in expr that no module registers.
func checkExpr(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	names := metricRE.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: no haochaping metric in %q", where, expr)
	}
	for _, n := range names {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s: unknown metric %s", where, n)
		}
	}
}

func TestAlertRules(t *testing.T) {
	path := filepath.Join(repoRoot, "configs/prometheus/haochaping-rules.yml")
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Expr   string            `yaml:"expr"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	known := knownMetrics(t)
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			checkExpr(t, r.Alert, r.Expr, known)
			if r.Labels["severity"] == "" {
				t.Errorf("%s: no severity", r.Alert)
			}
			alerts[r.Alert] = true
		}
	}
	// The alerts the issue asks for.
	for _, a := range []string{"HaochapingCasesOverdue", "HaochapingDeadlineWorkerLagging", "HaochapingRedisUnreachable",
		"HaochapingSMSGatewayDown", "HaochapingIVRCallsFailing", "HaochapingRTPPacingLate"} {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "configs/grafana/haochaping.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	known := knownMetrics(t)
	ids := map[int]bool{}
	var all strings.Builder
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr(t, p.Title, tg.Expr, known)
			all.WriteString(tg.Expr + "\n")
		}
	}
	for _, want := range []string{"haochaping_ratings_total", "haochaping_cases_open", "haochaping_cases_overdue",
		"haochaping_deadline_worker_lag_seconds", "haochaping_ivr_calls_in_state", "haochaping_rtp_", "haochaping_sip_",
		"haochaping_sms_messages_total", "haochaping_http_requests_total", "haochaping_redis_up"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}
