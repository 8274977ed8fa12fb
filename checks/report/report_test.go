package report_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/enginetest"
)

var shortValue = regexp.MustCompile(`holds\W+shop\W`)

var update = flag.Bool("update", false, "rewrite golden files")

var extensions = map[string]string{"text": "txt", "json": "json", "sarif": "sarif", "junit": "xml", "markdown": "md", "github": "gha.txt"}

// stable removes what changes from run to run (durations, commit SHAs of
// the temporary repository) so reports compare byte for byte.
func stable(rep *checks.Report) *checks.Report {
	rep.Duration = 0
	for i := range rep.Envs {
		rep.Envs[i].Duration = 0
	}
	if rep.BaseRev != "" {
		rep.BaseRev = "merge-base"
	}
	return rep
}

func exampleReport(t *testing.T) *checks.Report {
	t.Helper()
	src, cfg := enginetest.Example(t)
	rep, err := engine.Run(context.Background(), &engine.Request{Head: src, Config: cfg, Stages: []engine.Stage{enginetest.RuleStage{}}})
	if err != nil {
		t.Fatal(err)
	}
	return stable(rep)
}

// pairOnce renders the pull-request pair once per test binary: building
// the git repository and rendering both sides is the slow part. full
// renders every environment (--all-envs); incremental only those the
// change reaches, as `gate check --base` does by default.
var pairOnce struct {
	sync.Mutex
	full, incremental []byte
}

// pairReport returns a fresh copy of the pair's report (every environment).
func pairReport(t *testing.T) *checks.Report { return cachedPair(t, false) }

// incrementalReport returns a fresh copy of the pair's incremental report:
// staging, which the change does not reach, is not rendered.
func incrementalReport(t *testing.T) *checks.Report { return cachedPair(t, true) }

func cachedPair(t *testing.T, incremental bool) *checks.Report {
	t.Helper()
	pairOnce.Lock()
	defer pairOnce.Unlock()
	if pairOnce.full == nil {
		p := enginetest.NewPair(t)
		for _, inc := range []bool{false, true} {
			b, err := json.Marshal(buildPairReport(t, p.Dir, inc))
			if err != nil {
				t.Fatal(err)
			}
			if inc {
				pairOnce.incremental = b
			} else {
				pairOnce.full = b
			}
		}
	}
	b := pairOnce.full
	if incremental {
		b = pairOnce.incremental
	}
	var rep checks.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

func buildPairReport(t *testing.T, dir string, incremental bool) *checks.Report {
	t.Helper()
	repo, err := gitsrc.Open(dir)
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
	head, err := source.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{enginetest.RuleStage{}},
		Incremental: incremental})
	if err != nil {
		t.Fatal(err)
	}
	return stable(rep)
}

var statesOnce struct {
	sync.Mutex
	b []byte
}

// statesReport is the report of enginetest.NewStatesPair: findings new,
// existing and fixed in every environment, judged on new findings only.
func statesReport(t *testing.T) *checks.Report {
	t.Helper()
	statesOnce.Lock()
	defer statesOnce.Unlock()
	if statesOnce.b == nil {
		p := enginetest.NewStatesPair(t)
		b, err := json.Marshal(buildPairReport(t, p.Dir, false))
		if err != nil {
			t.Fatal(err)
		}
		statesOnce.b = b
	}
	var rep checks.Report
	if err := json.Unmarshal(statesOnce.b, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

func render(t *testing.T, format string, rep *checks.Report, opts report.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := report.Write(&b, format, rep, opts); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	reports := map[string]*checks.Report{"example": exampleReport(t), "pair": pairReport(t), "pair-incremental": incrementalReport(t), "states": statesReport(t)}
	opts := report.Options{ToolVersion: "test"}
	for name, rep := range reports {
		for format, ext := range extensions {
			t.Run(name+"."+format, func(t *testing.T) {
				golden(t, name+"."+ext, render(t, format, rep, opts))
			})
		}
	}
	// gate diff's text: unified diffs instead of field lists.
	golden(t, "pair.diff.txt", render(t, "text", reports["pair"], report.Options{Unified: true}))
}

func TestNoSecretValueInAnyFormat(t *testing.T) {
	for _, rep := range []*checks.Report{pairReport(t), incrementalReport(t)} {
		noSecretValueInAnyFormat(t, rep)
	}
}

func noSecretValueInAnyFormat(t *testing.T, rep *checks.Report) {
	t.Helper()
	forms := []string{}
	for _, c := range []string{enginetest.BaseCanary, enginetest.HeadCanary} {
		forms = append(forms, c, base64.StdEncoding.EncodeToString([]byte(c)), c+"-webhook", "canary")
	}
	for _, format := range report.FormatNames() {
		for _, opts := range []report.Options{{}, {Unified: true, Color: true}} {
			out := string(render(t, format, rep, opts))
			for _, f := range forms {
				if strings.Contains(out, f) {
					t.Errorf("%s output contains secret value %q", format, f)
				}
			}
			// The Secret's short username ("shop") quoted by RuleStage.
			if shortValue.MatchString(out) {
				t.Errorf("%s output contains the short secret value: %s", format, shortValue.FindString(out))
			}
			if format != "junit" && format != "sarif" && !strings.Contains(out, "shop-api") {
				t.Errorf("%s output does not mention the changed Secret at all", format)
			}
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJUnitOneSuitePerEnvironment(t *testing.T) {
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(render(t, "junit", exampleReport(t), report.Options{}), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range doc.Suites {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "dev,staging,prod" {
		t.Errorf("suites = %v", names)
	}
	if doc.Failures != 1 || doc.Suites[0].Failures != 1 {
		t.Errorf("failures = %d (dev %d), want the one prerelease-image error in dev", doc.Failures, doc.Suites[0].Failures)
	}
}

func TestTextColour(t *testing.T) {
	rep := exampleReport(t)
	plain := string(render(t, "text", rep, report.Options{}))
	color := string(render(t, "text", rep, report.Options{Color: true}))
	if strings.Contains(plain, "\x1b[") {
		t.Error("colour without Options.Color")
	}
	if !strings.Contains(color, "\x1b[31m") {
		t.Error("no colour with Options.Color")
	}
	if !strings.Contains(plain, "overlays/dev/kustomization.yaml:9: error test/prerelease-image Deployment/shop-dev/shop") {
		t.Errorf("text lacks file:line findings:\n%s", plain)
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := report.Write(&bytes.Buffer{}, "yaml", &checks.Report{}, report.Options{}); err == nil {
		t.Error("no error for an unknown format")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", "report", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./checks/report -update)", err)
	}
	if !bytes.Equal(want, got) {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
		for i := 0; i < len(wl) || i < len(gl); i++ {
			var a, b string
			if i < len(wl) {
				a = wl[i]
			}
			if i < len(gl) {
				b = gl[i]
			}
			if a != b {
				t.Fatalf("%s differs from the golden file at line %d (go test ./checks/report -update to accept):\n- %s\n+ %s", path, i+1, a, b)
			}
		}
	}
}

func TestMarkdownFitsACommentWithoutDroppingObjects(t *testing.T) {
	rep := pairReport(t)
	out := string(render(t, "markdown", rep, report.Options{MaxChars: 1500}))
	if !strings.Contains(out, "more changed objects, diffs left out") {
		t.Fatalf("no cut notice with a small budget:\n%s", out)
	}
	for _, e := range rep.Envs {
		for _, c := range e.Diff.Changes {
			if !strings.Contains(out, c.ID.String()) {
				t.Errorf("%s dropped from the markdown report", c.ID)
			}
		}
	}
	if strings.Count(out, "<details>") >= 6 {
		t.Errorf("budget not applied: %d diff blocks", strings.Count(out, "<details>"))
	}
}

// TestNotRenderedEnvironmentsInEveryFormat: an incremental run leaves out
// the environments the change does not reach. Every format must say so,
// and none may present them as checked and clean.
func TestNotRenderedEnvironmentsInEveryFormat(t *testing.T) {
	rep := incrementalReport(t)
	var staging *checks.EnvReport
	for i := range rep.Envs {
		e := &rep.Envs[i]
		switch e.Env.Name {
		case "staging":
			staging = e
		default:
			if e.NotRendered != "" || e.Status != checks.EnvChecked || e.Resources == 0 {
				t.Errorf("%s is reached by the change: status %s, notRendered %q, %d resources", e.Env.Name, e.Status, e.NotRendered, e.Resources)
			}
		}
	}
	if staging == nil || staging.NotRendered == "" || staging.Status != checks.EnvUntouched || staging.Diff != nil {
		t.Fatalf("staging must be untouched and not rendered: %+v", staging)
	}
	text := string(render(t, "text", rep, report.Options{}))
	for _, want := range []string{"staging overlays/staging  untouched, not rendered: " + staging.NotRendered, "staging  untouched (not rendered)", "1 untouched and not rendered"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "staging overlays/staging  0 resources") || regexp.MustCompile(`staging overlays/staging .*PASS`).MatchString(text) {
		t.Errorf("text shows the unrendered staging as checked:\n%s", text)
	}
	md := string(render(t, "markdown", rep, report.Options{}))
	if !strings.Contains(md, "| staging | ⏭️ not rendered | – | untouched | – | – |") || !strings.Contains(md, "1 untouched, not rendered") {
		t.Errorf("markdown does not mark staging as not rendered:\n%s", md)
	}
	var junit struct {
		Suites []struct {
			Name    string `xml:"name,attr"`
			Tests   int    `xml:"tests,attr"`
			Skipped int    `xml:"skipped,attr"`
			Cases   []struct {
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(render(t, "junit", rep, report.Options{}), &junit); err != nil {
		t.Fatal(err)
	}
	for _, s := range junit.Suites {
		if s.Name == "staging" {
			if s.Tests != 1 || s.Skipped != 1 || s.Cases[0].Skipped == nil || !strings.Contains(s.Cases[0].Skipped.Message, "not rendered") {
				t.Errorf("junit staging suite = %+v, want one skipped case saying it was not rendered", s)
			}
		}
	}
	var sarif struct {
		Runs []struct {
			Properties struct {
				NotRendered []string `json:"notRendered"`
			}
		}
	}
	if err := json.Unmarshal(render(t, "sarif", rep, report.Options{}), &sarif); err != nil {
		t.Fatal(err)
	}
	if got := sarif.Runs[0].Properties.NotRendered; len(got) != 1 || got[0] != "staging" {
		t.Errorf("sarif run properties notRendered = %v, want [staging]", got)
	}
	// The full run renders staging: no format says it was left out.
	for _, format := range []string{"text", "markdown", "junit", "sarif", "json"} {
		if out := string(render(t, format, pairReport(t), report.Options{})); strings.Contains(out, "not rendered") || strings.Contains(out, "notRendered") {
			t.Errorf("%s of a full run mentions environments not rendered", format)
		}
	}
}

// TestDiffReportsChangesNotVerdicts: a report no check stage ran over
// (gate diff) shows the changes and never a pass: no PASS, no ✅ pass.
func TestDiffReportsChangesNotVerdicts(t *testing.T) {
	// The pair as gate diff reports it: no stage ran, so no findings.
	rep := pairReport(t)
	rep.Checked, rep.Pass = nil, true
	for i := range rep.Envs {
		rep.Envs[i].Findings, rep.Envs[i].Pass = nil, true
	}
	text := string(render(t, "text", rep, report.Options{Unified: true}))
	md := string(render(t, "markdown", rep, report.Options{}))
	for name, out := range map[string]string{"text": text, "markdown": md} {
		for _, bad := range []string{"PASS", "✅ pass", "fails on"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s of a diff says %q:\n%s", name, bad, out)
			}
		}
	}
	if !strings.Contains(text, "result: changes only, no schema or policy check ran") || !strings.Contains(text, "dev overlays/dev  5 resources  rendered") {
		t.Errorf("text does not say it reports changes:\n%s", text)
	}
	if !strings.Contains(md, "## gate: changes (no schema or policy check ran)") || !strings.Contains(md, "| dev | rendered |") {
		t.Errorf("markdown does not say it reports changes:\n%s", md)
	}
}

// TestDiffJSONHasNoVerdict: a report no check stage made (gate diff)
// lists changes and carries no pass field, at the top or per environment,
// and still follows the schema; the schema refuses a pass there, and
// requires one when stages ran.
func TestDiffJSONHasNoVerdict(t *testing.T) {
	s := compileSchema(t, "report.schema.json")
	rep := pairReport(t)
	rep.Checked = nil
	out := render(t, "json", rep, report.Options{})
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["pass"]; ok {
		t.Error("a report without checked stages has a top-level pass")
	}
	envs, _ := doc["environments"].([]any)
	if len(envs) == 0 {
		t.Fatal("no environments")
	}
	for _, e := range envs {
		if _, ok := e.(map[string]any)["pass"]; ok {
			t.Errorf("environment %v has a pass without a verdict", e.(map[string]any)["env"])
		}
		if _, ok := e.(map[string]any)["diff"]; !ok && e.(map[string]any)["notRendered"] == nil {
			t.Errorf("environment %v lost its diff", e.(map[string]any)["env"])
		}
	}
	if err := validate(t, s, out); err != nil {
		t.Errorf("diff JSON does not follow the schema: %v", err)
	}
	doc["pass"] = true
	bad, _ := json.Marshal(doc)
	if validate(t, s, bad) == nil {
		t.Error("the schema accepts a pass on a report no stage checked")
	}
	checked := render(t, "json", pairReport(t), report.Options{})
	var withVerdict map[string]any
	if err := json.Unmarshal(checked, &withVerdict); err != nil {
		t.Fatal(err)
	}
	delete(withVerdict, "pass")
	bad, _ = json.Marshal(withVerdict)
	if validate(t, s, bad) == nil {
		t.Error("the schema accepts a checked report without its pass")
	}
}
