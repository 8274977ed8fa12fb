package main

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/testing/enginetest"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

func TestCheckExitCodeFollowsFailOn(t *testing.T) {
	for _, failOn := range []string{"error", "warning", "notice"} {
		t.Run(failOn, func(t *testing.T) {
			out, stderr, code := runGate(t, "--repo", exampleRepo, "check", "-o", "json", "--fail-on", failOn)
			var rep checks.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("exit %d, stdout is not a JSON report: %v\n%s", code, err, stderr)
			}
			sev, _ := checks.ParseSeverity(failOn)
			want := 0
			if checks.Failing(rep.AllFindings(), sev) {
				want = 1
			}
			if code != want || rep.Pass != (want == 0) || rep.FailOn != sev {
				t.Errorf("--fail-on %s: exit %d, pass %v, failOn %s; want exit %d", failOn, code, rep.Pass, rep.FailOn, want)
			}
			if strings.Contains(stderr, "\r") {
				t.Errorf("progress written although stderr is not a terminal: %q", stderr)
			}
		})
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckCLI(t *testing.T) {
	broken := writeTree(t, map[string]string{
		"gate.yaml":              "environments:\n  - name: app\n    path: app\n",
		"app/kustomization.yaml": "resources: [cm.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {a: [}\n",
	})
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"render error fails", []string{"--repo", broken, "check"}, 1, ": error render/invalid-yaml: invalid YAML", ""},
		{"unknown format", []string{"--repo", exampleRepo, "check", "-o", "yaml"}, 2, "", `--output "yaml": unknown format`},
		{"two formats on stdout", []string{"--repo", exampleRepo, "check", "-o", "text", "-o", "json"}, 2, "", "only one format can go to stdout"},
		{"output-file ambiguous", []string{"--repo", exampleRepo, "check", "-o", "text", "-o", "json", "--output-file", "x"}, 2, "", "--output-file needs exactly one"},
		{"bad fail-on", []string{"--repo", exampleRepo, "check", "--fail-on", "sometimes"}, 2, "", `unknown severity "sometimes"`},
		{"unknown env", []string{"--repo", exampleRepo, "check", "--env", "qa"}, 2, "", `unknown environment "qa"`},
		{"one env", []string{"--repo", exampleRepo, "check", "--env", "staging", "--fail-on", "error"}, 0, "staging overlays/staging", ""},
		{"bad base", []string{"--repo", exampleRepo, "check", "--base", "no-such-branch"}, 2, "", `--base: resolve revision "no-such-branch"`},
		{"diff outside git", []string{"--repo", broken, "diff", "--base", "main"}, 2, "", "open git repository"},
		{"unwritable report file", []string{"--repo", exampleRepo, "check", "--env", "staging", "-o", "json=" + filepath.Join(broken, "no-such-dir", "r.json")}, 2, "", "write json report"},
		{"diff without a base", []string{"--repo", exampleRepo, "diff", "--base", ""}, 2, "", "--base: name the revision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runGate(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %.1500s\nstderr: %s", code, tt.code, out, stderr)
			}
			if !strings.Contains(out, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%.2000s", tt.stdout, out)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
		})
	}
}

// allFormats runs gate with every format, text on stdout and the others
// in files, and returns all of it keyed by format.
func allFormats(t *testing.T, args ...string) (map[string]string, int) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"json": "r.json", "sarif": "r.sarif", "junit": "r.xml", "markdown": "r.md"}
	args = append(args, "-o", "text")
	for f, name := range files {
		args = append(args, "-o", f+"="+filepath.Join(dir, name))
	}
	out, stderr, code := runGate(t, args...)
	got := map[string]string{"text": out, "stderr": stderr}
	for f, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s not written (exit %d): %v\n%s", f, code, err, stderr)
		}
		got[f] = string(b)
	}
	return got, code
}

func TestCheckPullRequestEveryFormat(t *testing.T) {
	p := enginetest.NewPair(t)
	outs, code := allFormats(t, "--repo", p.Dir, "check", "--base", "main")
	var rep checks.Report
	if err := json.Unmarshal([]byte(outs["json"]), &rep); err != nil {
		t.Fatal(err)
	}
	if want := 0; !rep.Pass {
		want = 1
		if code != want {
			t.Errorf("exit %d with pass=%v", code, rep.Pass)
		}
	} else if code != want {
		t.Errorf("exit %d with pass=%v", code, rep.Pass)
	}
	if rep.BaseRev != p.Base {
		t.Errorf("base %s, want the merge-base %s", rep.BaseRev, p.Base)
	}
	// With a base the run is incremental: staging, which the change does
	// not reach, is reported as not rendered, never as checked.
	for _, e := range rep.Envs {
		if notRendered := e.NotRendered != ""; notRendered != (e.Env.Name == "staging") || (notRendered && (e.Status != checks.EnvUntouched || e.Resources != 0)) {
			t.Errorf("%s: status %s, notRendered %q, %d resources", e.Env.Name, e.Status, e.NotRendered, e.Resources)
		}
	}
	if !strings.Contains(outs["markdown"], "| staging | ⏭️ not rendered |") || !strings.Contains(outs["text"], "staging overlays/staging  untouched, not rendered") {
		t.Error("markdown or text does not show staging as not rendered")
	}
	var junit struct {
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(outs["junit"]), &junit); err != nil || len(junit.Suites) < 3 {
		t.Errorf("junit: %v, %d suites", err, len(junit.Suites))
	}
	if !strings.Contains(outs["markdown"], "<details>") || !strings.Contains(outs["markdown"], "| prod |") {
		t.Errorf("markdown lacks the blast-radius table or collapsible diffs:\n%.1500s", outs["markdown"])
	}
	if !strings.Contains(outs["sarif"], `"version": "2.1.0"`) {
		t.Error("sarif lacks version 2.1.0")
	}
	for _, want := range []string{"blast radius", "staging  untouched", "spec.replicas: 3 → 5", "data.api-key: <secret sha256:"} {
		if !strings.Contains(outs["text"], want) {
			t.Errorf("text lacks %q:\n%s", want, outs["text"])
		}
	}
	diffOut, stderr, code := runGate(t, "--repo", p.Dir, "diff", "--base", "main")
	if code != 0 {
		t.Fatalf("diff: exit %d: %s", code, stderr)
	}
	if !strings.Contains(diffOut, "-  replicas: 3") || !strings.Contains(diffOut, "+  replicas: 5") {
		t.Errorf("gate diff lacks the unified diff:\n%s", diffOut)
	}
	outs["diff"], outs["diff-stderr"] = diffOut, stderr
	// The canary: no Secret value in any output, in any encoding.
	for name, out := range outs {
		for _, c := range []string{enginetest.BaseCanary, enginetest.HeadCanary} {
			for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c))} {
				if strings.Contains(out, form) {
					t.Errorf("%s output contains the secret value %q", name, form)
				}
			}
		}
	}
}

func TestDiffExitCodeAndRevisions(t *testing.T) {
	p := enginetest.NewPair(t)
	if _, stderr, code := runGate(t, "--repo", p.Dir, "diff", "--base", "main", "--exit-code"); code != 1 {
		t.Errorf("diff --exit-code with changes: exit %d: %s", code, stderr)
	}
	if out, stderr, code := runGate(t, "--repo", p.Dir, "diff", "--exit-code"); code != 0 {
		t.Errorf("diff against HEAD of a clean work tree: exit %d\n%s\n%s", code, out, stderr)
	}
	// Without the merge-base, main's own staging change shows up reversed.
	out, _, _ := runGate(t, "--repo", p.Dir, "diff", "--base", "main", "--no-merge-base", "--env", "staging")
	if !strings.Contains(out, "-  replicas: 4") {
		t.Errorf("--no-merge-base: staging diff lacks main's replicas:\n%s", out)
	}
	out, _, _ = runGate(t, "--repo", p.Dir, "diff", "--base", "main", "--env", "staging")
	if !strings.Contains(out, "untouched") {
		t.Errorf("merge-base: staging should be untouched:\n%s", out)
	}
	// --head reads the commit from git; an uncommitted edit of the work
	// tree does not count.
	p.Repo.Write("overlays/prod/deployment-prod.yaml", "not: [valid\n")
	out, stderr, code := runGate(t, "--repo", p.Dir, "diff", "--base", "main", "--head", "HEAD", "--env", "prod")
	if code != 0 || !strings.Contains(out, "+  replicas: 5") {
		t.Errorf("--head HEAD: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestCheckTrustsTheBaseConfig(t *testing.T) {
	p := enginetest.NewPair(t)
	// The change breaks gate.yaml (uncommitted, in the work tree).
	p.Repo.Write("gate.yaml", "environments:\n  - name: prod\n    path: overlays/prod\n    bogus: true\n")
	if _, stderr, code := runGate(t, "--repo", p.Dir, "check"); code != 2 || !strings.Contains(stderr, `unknown key "bogus"`) {
		t.Errorf("check of the work tree alone: exit %d, %s", code, stderr)
	}
	out, stderr, code := runGate(t, "--repo", p.Dir, "check", "--base", "main", "-o", "json")
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	if len(rep.Envs) != 3 {
		t.Errorf("with --base, gate.yaml comes from the base (3 environments); got %d", len(rep.Envs))
	}
}

func TestDiffOfAnOpsRepoInASubdirectory(t *testing.T) {
	r := gittest.New(t)
	r.Write("README", "monorepo\n")
	r.Write("deploy/app/kustomization.yaml", "resources: [cm.yaml]\n")
	r.Write("deploy/app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: blue\n")
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "base")
	r.Write("deploy/app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: green\n")
	out, stderr, code := runGate(t, "--repo", filepath.Join(r.Dir, "deploy"), "diff", "--base", "HEAD", "--exit-code")
	if code != 1 || !strings.Contains(out, "data.mode: blue → green") && !strings.Contains(out, "+  mode: green") {
		t.Errorf("exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "caused by: app/cm.yaml") {
		t.Errorf("source files are relative to the ops repo:\n%s", out)
	}
	// SARIF paths are relative to the git repository, as code scanning wants.
	r.Write("deploy/app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata: [\n")
	out, _, code = runGate(t, "--repo", filepath.Join(r.Dir, "deploy"), "check", "-o", "sarif")
	if code != 1 || !strings.Contains(out, `"uri": "deploy/app/cm.yaml"`) {
		t.Errorf("sarif in a subdirectory: exit %d\n%s", code, out)
	}
}

func TestOutputFileSingleFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	out, stderr, code := runGate(t, "--repo", exampleRepo, "check", "-o", "json", "--output-file", path)
	if code == 2 {
		t.Fatalf("exit 2: %s", stderr)
	}
	if out != "" {
		t.Errorf("stdout not empty with --output-file: %q", out)
	}
	b, err := os.ReadFile(path)
	var rep checks.Report
	if err != nil || json.Unmarshal(b, &rep) != nil || rep.SchemaVersion != checks.ReportSchemaVersion {
		t.Errorf("report file: %v %s", err, b)
	}
	if _, err := os.Stat(path + ".gate-tmp"); !os.IsNotExist(err) {
		t.Error("temporary file left behind")
	}
}

// TestDiffNoiseIgnoredByDefaultAndConfigurable: fields that never reach
// the cluster are not changes by default; gate.yaml diff.ignore adds more,
// read from the base (a change cannot hide its own edits by adding an
// ignore rule).
func TestDiffNoiseIgnoredByDefaultAndConfigurable(t *testing.T) {
	cm := func(build, lastApplied, mode string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  annotations:\n" +
			"    example.com/build: \"" + build + "\"\n" +
			"    kubectl.kubernetes.io/last-applied-configuration: '{\"v\":\"" + lastApplied + "\"}'\n" +
			"data:\n  mode: " + mode + "\n"
	}
	r := gittest.New(t)
	r.Write("gate.yaml", "environments:\n- name: app\n  path: app\ndiff:\n  ignore:\n  - metadata.annotations[\"example.com/build\"]\n")
	r.Write("app/kustomization.yaml", "resources: [cm.yaml]\n")
	r.Write("app/cm.yaml", cm("1", "a", "blue"))
	r.Commit("base")

	// Only noise changes: the default ignore (last-applied) and gate.yaml's.
	r.Write("app/cm.yaml", cm("2", "b", "blue"))
	out, stderr, code := runGate(t, "--repo", r.Dir, "diff", "--base", "HEAD", "--exit-code")
	if code != 0 || !strings.Contains(out, "app app  1 resource") || strings.Contains(out, "changes:") || !strings.Contains(out, "0 of 1 environments changed") {
		t.Errorf("noise only: exit %d, want 0 and no change:\n%s\n%s", code, out, stderr)
	}
	// A real change next to the noise shows alone.
	r.Write("app/cm.yaml", cm("3", "c", "green"))
	out, _, code = runGate(t, "--repo", r.Dir, "diff", "--base", "HEAD", "--exit-code", "-o", "json")
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if d := rep.Envs[0].Diff; code != 1 || d == nil || len(d.Changes) != 1 || len(d.Changes[0].Fields) != 1 || d.Changes[0].Fields[0].Path != "data.mode" {
		t.Errorf("want exactly data.mode changed (exit 1), got exit %d: %+v", code, d)
	}
	if strings.Contains(rep.Envs[0].Diff.Changes[0].Unified, "example.com/build") || strings.Contains(rep.Envs[0].Diff.Changes[0].Unified, "last-applied") {
		t.Errorf("ignored fields in the unified diff:\n%s", rep.Envs[0].Diff.Changes[0].Unified)
	}
	// Without the rule in the base, the annotation is a change; the
	// change's own gate.yaml cannot add the rule for itself.
	r.Write("gate.yaml", "environments:\n- name: app\n  path: app\n")
	r.Write("app/cm.yaml", cm("1", "a", "blue"))
	r.Commit("no ignore rule")
	r.Write("gate.yaml", "environments:\n- name: app\n  path: app\ndiff:\n  ignore:\n  - metadata.annotations[\"example.com/build\"]\n")
	r.Write("app/cm.yaml", cm("2", "a", "blue"))
	out, _, code = runGate(t, "--repo", r.Dir, "diff", "--base", "HEAD", "--exit-code")
	if code != 1 || !strings.Contains(out, `+    example.com/build: "2"`) {
		t.Errorf("the base has no ignore rule: want the annotation shown as a change (exit 1), got exit %d:\n%s", code, out)
	}
}

// TestBaseIsReadFromGitNeverCheckedOut: diffing against a base reads it
// from the object store; the work tree, the index and HEAD are untouched,
// so an uncommitted edit survives and is what the head shows.
func TestBaseIsReadFromGitNeverCheckedOut(t *testing.T) {
	p := enginetest.NewPair(t)
	p.Repo.Write("overlays/prod/feature-flags.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\ndata:\n  checkout-v2: \"false\"\n")
	state := func() string {
		s := p.Repo.Git("symbolic-ref", "HEAD") + " " + p.Repo.Git("rev-parse", "HEAD") + "\n" +
			p.Repo.Git("--no-optional-locks", "status", "--porcelain")
		// After git's own commands: git status may refresh the index.
		idx, err := os.Stat(filepath.Join(p.Dir, ".git", "index"))
		if err != nil {
			t.Fatal(err)
		}
		return s + "\n" + idx.ModTime().String()
	}
	before := state()
	out, stderr, code := runGate(t, "--repo", p.Dir, "diff", "--base", "main", "--env", "prod")
	if code != 0 || !strings.Contains(out, `+  checkout-v2: "false"`) {
		t.Errorf("diff: exit %d, want the uncommitted edit in the head:\n%s\n%s", code, out, stderr)
	}
	if _, stderr, code := runGate(t, "--repo", p.Dir, "check", "--base", "main", "--no-merge-base"); code > 1 {
		t.Errorf("check: exit %d: %s", code, stderr)
	}
	if after := state(); after != before {
		t.Errorf("gate changed the repository:\nbefore %s\nafter  %s", before, after)
	}
}

// TestReportSchemaCommand: `gate report schema` prints the schema the json
// report follows, and a report of this binary validates against it.
func TestReportSchemaCommand(t *testing.T) {
	out, stderr, code := runGate(t, "report", "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	rep, _, _ := runGate(t, "--repo", exampleRepo, "check", "-o", "json")
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(rep))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("gate check -o json does not follow gate report schema: %v", err)
	}
}
