package report

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/enginetest"
)

// updateGolden reads the package's -update flag (declared by the external
// tests of this package) without declaring it twice.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkRunText is a check run as one reviewable text: what GitHub shows.
func checkRunText(cr *CheckRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nconclusion: %s\ntitle: %s\ncut: %v\n\n--- summary\n%s\n--- text\n%s\n--- annotations\n", cr.Name, cr.Conclusion, cr.Output.Title, cr.Cut, cr.Output.Summary, cr.Output.Text)
	for i, batch := range cr.Batches {
		fmt.Fprintf(&b, "# request %d\n", i+1)
		for _, a := range batch {
			fmt.Fprintf(&b, "%s:%d-%d %s %q: %s\n", a.Path, a.StartLine, a.EndLine, a.Level, a.Title, a.Message)
		}
	}
	return b.String()
}

// TestCheckRunGolden renders the check runs of a real pull request (the
// engine's base/head pair) and compares them with golden files.
func TestCheckRunGolden(t *testing.T) {
	checkRunGolden(t, enginetest.NewPair(t), "")
}

// TestCheckRunGoldenStates: the check runs of a pull request whose
// findings are new, existing and fixed (enginetest.NewStatesPair).
func TestCheckRunGoldenStates(t *testing.T) {
	checkRunGolden(t, enginetest.NewStatesPair(t), "states-")
}

func checkRunGolden(t *testing.T, p *enginetest.Pair, prefix string) {
	repo, err := gitsrc.Open(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := gitsrc.MergeBase(repo, "main", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	base, err := gitsrc.FromCommit(repo, mb, 0)
	if err != nil {
		t.Fatal(err)
	}
	head, err := source.OpenDir(p.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{enginetest.RuleStage{}}})
	if err != nil {
		t.Fatal(err)
	}
	rep.BaseRev, rep.HeadRev = "merge-base", "head"
	for i := range rep.Envs {
		er := &rep.Envs[i]
		cr := EnvCheckRun(rep, er, CheckRunOptions{DetailsURL: "https://gate.example.com/reports/sig/o/r/head/" + er.Env.Name})
		got := checkRunText(cr)
		for _, canary := range []string{enginetest.BaseCanary, enginetest.HeadCanary} {
			if strings.Contains(got, canary) || strings.Contains(cr.Full, canary) {
				t.Errorf("%s: check run shows a Secret value", cr.Name)
			}
		}
		path := filepath.Join("..", "..", "testdata", "golden", "checkrun", prefix+er.Env.Name+".txt")
		if updateGolden() {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./checks/report -update to create it)", err)
		}
		if string(want) != got {
			t.Errorf("%s differs from %s (go test ./checks/report -update to accept):\n%s", cr.Name, path, got)
		}
	}
}

// bigReport has more findings and changes than one check run can carry.
func bigReport(findings, changes, diffLines int) (*checks.Report, *checks.EnvReport) {
	er := checks.EnvReport{Env: checks.Env{Name: "prod", Path: "overlays/prod", Kind: "kustomize"}, Status: checks.EnvChecked, Diff: &checks.EnvDiff{ByKind: map[string]int{"ConfigMap": changes}}}
	for i := 0; i < findings; i++ {
		er.Findings = append(er.Findings, checks.Finding{Check: "policy", RuleID: "test/rule", Severity: checks.SeverityError, Env: "prod",
			Message: fmt.Sprintf("finding number %04d", i), Origin: checks.Origin{File: fmt.Sprintf("overlays/prod/cm-%03d.yaml", i), Line: i%40 + 1}})
	}
	for i := 0; i < changes; i++ {
		var d strings.Builder
		for l := 0; l < diffLines; l++ {
			fmt.Fprintf(&d, "-  key%03d: old value of change %04d\n+  key%03d: new value of change %04d\n", l, i, l, i)
		}
		er.Diff.Changes = append(er.Diff.Changes, checks.ResourceChange{ID: checks.ResourceID{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: fmt.Sprintf("cm-%04d", i)},
			Action: checks.ActionChanged, Unified: d.String(), Origin: checks.Origin{File: fmt.Sprintf("overlays/prod/cm-%03d.yaml", i), Line: 1}})
	}
	rep := &checks.Report{FailOn: checks.SeverityError, Envs: []checks.EnvReport{er}}
	rep.Finalize()
	return rep, &rep.Envs[0]
}

func TestCheckRunStaysWithinGitHubLimitsWithoutLosingAnything(t *testing.T) {
	const url = "https://gate.example.com/reports/sig/o/r/sha/prod"
	rep, er := bigReport(120, 400, 40)
	cr := EnvCheckRun(rep, er, CheckRunOptions{DetailsURL: url})
	if cr.Conclusion != ConclusionFailure {
		t.Errorf("conclusion %s, want failure", cr.Conclusion)
	}
	if len(cr.Output.Summary) > MaxOutputChars || len(cr.Output.Text) > MaxOutputChars {
		t.Fatalf("summary %d / text %d characters, over GitHub's %d", len(cr.Output.Summary), len(cr.Output.Text), MaxOutputChars)
	}
	// Annotations: 120 in requests of at most 50, each finding once.
	var sizes []int
	seen := map[string]int{}
	for _, b := range cr.Batches {
		sizes = append(sizes, len(b))
		for _, a := range b {
			seen[a.Message]++
		}
	}
	if fmt.Sprint(sizes) != "[50 50 20]" {
		t.Errorf("annotation batches %v, want [50 50 20]", sizes)
	}
	for _, f := range er.Findings {
		if seen[f.Message] != 1 {
			t.Errorf("finding %q is annotated %d times, want once", f.Message, seen[f.Message])
		}
	}
	// The text is cut between changes, and says so and where the rest is.
	if !cr.Cut || !strings.Contains(cr.Output.Text, url) || !strings.Contains(cr.Output.Text, "of 400 resource changes are not shown here") {
		t.Errorf("the cut text does not say what it left out and where:\n...%s", tail(cr.Output.Text, 400))
	}
	// The full report has every finding and every change.
	for _, f := range er.Findings {
		if !strings.Contains(cr.Full, f.Message) {
			t.Fatalf("the full report lacks %q", f.Message)
		}
	}
	for _, c := range er.Diff.Changes {
		if !strings.Contains(cr.Full, c.ID.Name) {
			t.Fatalf("the full report lacks change %s", c.ID.Name)
		}
	}
	// A small limit cuts the summary the same way.
	cr = EnvCheckRun(rep, er, CheckRunOptions{DetailsURL: url, MaxChars: 4000})
	if len(cr.Output.Summary) > 4000 || !strings.Contains(cr.Output.Summary, "findings and sections are not shown here") {
		t.Errorf("summary cut to 4000: %d characters, note present: %v", len(cr.Output.Summary), strings.Contains(cr.Output.Summary, "not shown here"))
	}
	// One enormous change still fits, cut at a line with a marker.
	rep, er = bigReport(0, 1, 3000)
	cr = EnvCheckRun(rep, er, CheckRunOptions{DetailsURL: url})
	if len(cr.Output.Text) > MaxOutputChars || !strings.Contains(cr.Output.Text, url) {
		t.Errorf("one huge change: text %d characters, names the full report: %v", len(cr.Output.Text), strings.Contains(cr.Output.Text, url))
	}
}

func TestEnvConclusion(t *testing.T) {
	fail := []checks.Finding{{Severity: checks.SeverityError, RuleID: "r", Message: "m"}}
	warn := []checks.Finding{{Severity: checks.SeverityWarning, RuleID: "r", Message: "m"}}
	cases := []struct {
		name   string
		er     checks.EnvReport
		global []checks.Finding
		want   string
	}{
		{"clean", checks.EnvReport{Status: checks.EnvChecked}, nil, ConclusionSuccess},
		{"error fails", checks.EnvReport{Status: checks.EnvChecked, Findings: fail}, nil, ConclusionFailure},
		{"warning passes", checks.EnvReport{Status: checks.EnvChecked, Findings: warn}, nil, ConclusionSuccess},
		{"waived error passes", checks.EnvReport{Status: checks.EnvChecked, Findings: []checks.Finding{{Severity: checks.SeverityError, Waived: "ticket 1"}}}, nil, ConclusionSuccess},
		{"untouched is neutral", checks.EnvReport{Status: checks.EnvUntouched}, nil, ConclusionNeutral},
		{"empty diff is neutral", checks.EnvReport{Status: checks.EnvChecked, Diff: &checks.EnvDiff{}}, nil, ConclusionNeutral},
		{"report-wide error fails a touched env", checks.EnvReport{Status: checks.EnvChecked}, fail, ConclusionFailure},
		{"changed and failing", checks.EnvReport{Status: checks.EnvChecked, Findings: fail, Diff: &checks.EnvDiff{Changes: []checks.ResourceChange{{Action: checks.ActionAdded}}}}, nil, ConclusionFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := &checks.Report{FailOn: checks.SeverityError, Findings: tc.global}
			if got := EnvConclusion(rep, &tc.er); got != tc.want {
				t.Errorf("EnvConclusion = %s, want %s", got, tc.want)
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestUntouchedEnvCheckRun: an environment the incremental engine did not
// render says so, and is neutral, instead of claiming "0 resources" or "no
// base revision".
func TestUntouchedEnvCheckRun(t *testing.T) {
	rep := &checks.Report{FailOn: checks.SeverityError, HeadRev: strings.Repeat("a", 40), BaseRev: strings.Repeat("b", 40),
		Envs: []checks.EnvReport{{Env: checks.Env{Name: "dev", Path: "overlays/dev", Kind: "kustomize"}, Status: checks.EnvUntouched, Findings: []checks.Finding{}}}}
	rep.Finalize()
	cr := EnvCheckRun(rep, &rep.Envs[0], CheckRunOptions{})
	if cr.Conclusion != ConclusionNeutral || cr.Output.Title != "Not affected by this pull request" {
		t.Errorf("conclusion %q title %q, want neutral, not affected", cr.Conclusion, cr.Output.Title)
	}
	for _, bad := range []string{"0 resources rendered", "No base rendering", "No base revision"} {
		if strings.Contains(cr.Output.Summary+cr.Output.Text, bad) {
			t.Errorf("an unrendered environment's check run says %q:\n%s\n%s", bad, cr.Output.Summary, cr.Output.Text)
		}
	}
	if !strings.Contains(cr.Output.Summary, "Not rendered") || !strings.Contains(cr.Output.Text, "Not rendered") {
		t.Errorf("the check run does not say the environment was not rendered:\n%s\n%s", cr.Output.Summary, cr.Output.Text)
	}
	if len(cr.Batches) != 0 {
		t.Errorf("annotations on an untouched environment: %+v", cr.Batches)
	}
}
