package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/internal/testing/gittest"
)

// actionYAML is the part of action.yml the runner reads.
type actionYAML struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID               string            `yaml:"id"`
			Name             string            `yaml:"name"`
			Uses             string            `yaml:"uses"`
			With             map[string]string `yaml:"with"`
			Shell            string            `yaml:"shell"`
			Run              string            `yaml:"run"`
			WorkingDirectory string            `yaml:"working-directory"`
			Env              map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

// actionRun is one invocation of the composite action, the way the GitHub
// runner executes it: expressions expanded from the inputs, the event and
// earlier steps' outputs; each `run` step in `bash --noprofile --norc -eo
// pipefail` with the runner's environment variables; outputs and the job
// summary read from the files the steps append to.
type actionRun struct {
	t         *testing.T
	action    actionYAML
	actionDir string // GITHUB_ACTION_PATH: this repository
	workspace string // GITHUB_WORKSPACE: the checked-out ops repo
	temp      string // RUNNER_TEMP
	inputs    map[string]string
	baseSHA   string // github.event.pull_request.base.sha

	steps   map[string]map[string]string // step id → outputs
	stdout  string                       // what the steps printed (workflow commands)
	summary string                       // GITHUB_STEP_SUMMARY, all steps
	code    int                          // exit code of the first failing step, else 0
}

var expr = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

func (a *actionRun) eval(s string) string {
	a.t.Helper()
	return expr.ReplaceAllStringFunc(s, func(m string) string {
		e := expr.FindStringSubmatch(m)[1]
		switch {
		case e == "github.action_path":
			return a.actionDir
		case e == "runner.temp":
			return a.temp
		case e == "github.event.pull_request.base.sha":
			return a.baseSHA
		case strings.HasPrefix(e, "inputs."):
			name := strings.TrimPrefix(e, "inputs.")
			in, ok := a.action.Inputs[name]
			if !ok {
				a.t.Fatalf("action.yml uses undeclared input %q", name)
			}
			if v, ok := a.inputs[name]; ok {
				return v
			}
			return a.eval(in.Default)
		case strings.HasPrefix(e, "steps."):
			parts := strings.Split(e, ".")
			if len(parts) != 4 || parts[2] != "outputs" {
				a.t.Fatalf("unsupported expression %q", e)
			}
			return a.steps[parts[1]][parts[3]]
		}
		a.t.Fatalf("action.yml uses an expression this runner does not know: %q", e)
		return ""
	})
}

// runAction executes every step of action.yml.
func runAction(t *testing.T, workspace, baseSHA string, inputs map[string]string) *actionRun {
	t.Helper()
	b, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	a := &actionRun{t: t, workspace: workspace, temp: t.TempDir(), inputs: inputs, baseSHA: baseSHA, steps: map[string]map[string]string{}}
	if err := yaml.Unmarshal(b, &a.action); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	for name := range inputs {
		if _, ok := a.action.Inputs[name]; !ok {
			t.Fatalf("action.yml has no input %q", name)
		}
	}
	if a.action.Runs.Using != "composite" {
		t.Fatalf("runs.using = %q, want composite", a.action.Runs.Using)
	}
	if a.actionDir, err = filepath.Abs("../.."); err != nil {
		t.Fatal(err)
	}
	for i, st := range a.action.Runs.Steps {
		if st.Uses != "" {
			// The runner's job: a Go toolchain. The test process has one;
			// check the step asks for the version go.mod pins.
			if !strings.HasPrefix(st.Uses, "actions/setup-go@") {
				t.Fatalf("step %d uses %s, which this test cannot stand in for", i, st.Uses)
			}
			if f := a.eval(st.With["go-version-file"]); f != filepath.Join(a.actionDir, "go.mod") {
				t.Errorf("setup-go go-version-file = %q, want the action's go.mod", f)
			}
			continue
		}
		if st.Shell != "bash" {
			t.Fatalf("step %q: shell %q, want bash", st.Name, st.Shell)
		}
		script := filepath.Join(a.temp, "step.sh")
		if err := os.WriteFile(script, []byte(a.eval(st.Run)), 0o600); err != nil {
			t.Fatal(err)
		}
		outFile, sumFile := filepath.Join(a.temp, "output"), filepath.Join(a.temp, "summary")
		for _, f := range []string{outFile, sumFile} {
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = workspace
		if wd := a.eval(st.WorkingDirectory); wd != "" {
			cmd.Dir = filepath.Join(workspace, wd)
		}
		cmd.Env = append(os.Environ(),
			"CI=true", "GITHUB_ACTIONS=true",
			"GITHUB_ACTION_PATH="+a.actionDir, "GITHUB_WORKSPACE="+workspace, "RUNNER_TEMP="+a.temp,
			"GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+sumFile, "NO_COLOR=")
		for k, v := range st.Env {
			cmd.Env = append(cmd.Env, k+"="+a.eval(v))
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		a.stdout += string(out)
		sum, _ := os.ReadFile(sumFile)
		a.summary += string(sum)
		if st.ID != "" {
			a.steps[st.ID] = parseGitHubOutput(t, outFile)
		}
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("step %q: %v", st.Name, err)
			}
			a.code = ee.ExitCode()
			t.Logf("step %q exited %d; stderr:\n%s", st.Name, a.code, stderr.String())
			break
		}
	}
	return a
}

// output is the action's output name, as a workflow reads it.
func (a *actionRun) output(name string) string {
	o, ok := a.action.Outputs[name]
	if !ok {
		a.t.Fatalf("action.yml has no output %q", name)
	}
	return a.eval(o.Value)
}

// parseGitHubOutput reads name=value and name<<DELIM heredoc lines.
func parseGitHubOutput(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok {
			out[name] = val
		}
	}
	return out
}

// prRepo is the example ops repo on main (optionally in a subdirectory)
// and a pull-request branch with edits, checked out as actions/checkout
// with fetch-depth 0 leaves it. It returns the base branch's SHA.
func prRepo(t *testing.T, dir string, edits map[string]string) (*gittest.Repo, string) {
	t.Helper()
	r := gittest.New(t)
	r.CopyTreeInto(exampleRepo, dir)
	r.Write("README.md", "ops\n")
	base := r.Commit("ops repo")
	r.Git("checkout", "-q", "-b", "feature")
	for p, c := range edits {
		r.Write(filepath.Join(dir, p), c)
	}
	r.Commit("the change")
	return r, base
}

// TestActionFailsPullRequestWithAnnotations runs action.yml's steps for a
// pull request that pins prod's image to :latest: the job fails, the
// finding is an error annotation on the patch's line, the job summary has
// the markdown report, and the SARIF and extra reports are where the
// outputs say.
func TestActionFailsPullRequestWithAnnotations(t *testing.T) {
	patch := readExample(t, "overlays/prod/deployment-prod.yaml") + "          image: ghcr.io/example/shop:latest\n"
	r, base := prRepo(t, "", map[string]string{"overlays/prod/deployment-prod.yaml": patch})
	a := runAction(t, r.Dir, base, map[string]string{"formats": "json, junit"})

	if a.code != 1 {
		t.Fatalf("gate step exit %d, want 1 (the gate fails)\nstdout:\n%s", a.code, a.stdout)
	}
	wantAnn := "::error file=overlays/prod/deployment-prod.yaml,line=15,title=prod%3A image-tag-pinned (new)::Deployment/shop-prod/shop:"
	if !strings.Contains(a.stdout, wantAnn) {
		t.Errorf("no annotation %q in:\n%s", wantAnn, a.stdout)
	}
	for _, l := range strings.Split(strings.TrimSpace(a.stdout), "\n") {
		if !strings.HasPrefix(l, "::") {
			t.Errorf("stdout line is not a workflow command: %q", l)
		}
	}
	for _, w := range []string{
		"| prod | ❌ fail |",
		"| dev | ⏭️ not rendered |",
		"`overlays/prod/deployment-prod.yaml`",
		"image-tag-pinned",
	} {
		if !strings.Contains(a.summary, w) {
			t.Errorf("job summary lacks %q:\n%s", w, a.summary)
		}
	}
	// The render cache is on by default, in the runner's temp directory
	// (what actions/cache keeps between runs).
	if ents, err := os.ReadDir(filepath.Join(a.temp, "gate-cache")); err != nil || len(ents) == 0 {
		t.Errorf("render cache %s/gate-cache is empty after the run (%v)", a.temp, err)
	}
	if v := a.output("verdict"); v != "fail" {
		t.Errorf("verdict output %q, want fail", v)
	}
	sarifPath := a.output("sarif-file")
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	b, err := os.ReadFile(sarifPath)
	if err != nil {
		t.Fatalf("sarif-file output %q: %v", sarifPath, err)
	}
	if err := json.Unmarshal(b, &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Fatalf("sarif-file is not SARIF 2.1.0 (%v):\n%.400s", err, b)
	}
	found := false
	for _, res := range sarif.Runs[0].Results {
		for _, l := range res.Locations {
			pl := l.PhysicalLocation
			found = found || (pl.ArtifactLocation.URI == "overlays/prod/deployment-prod.yaml" && pl.Region.StartLine == 15)
		}
	}
	if !found {
		t.Errorf("SARIF has no result on overlays/prod/deployment-prod.yaml:15")
	}
	reports := strings.Fields(a.output("reports"))
	if len(reports) != 2 || !strings.HasSuffix(reports[0], ".json") || !strings.HasSuffix(reports[1], ".junit") {
		t.Fatalf("reports output %v, want the json and junit files", reports)
	}
	jb, _ := os.ReadFile(reports[0])
	var rep struct {
		Pass bool `json:"pass"`
	}
	if err := json.Unmarshal(jb, &rep); err != nil || rep.Pass {
		t.Errorf("json report: pass=%v err=%v", rep.Pass, err)
	}
	xb, _ := os.ReadFile(reports[1])
	if err := xml.Unmarshal(xb, new(struct{})); err != nil {
		t.Errorf("junit report: %v", err)
	}
}

// TestActionPassesInASubdirectory: the ops repo lives in deploy/ of the
// repository (working-directory), the environments input narrows the run,
// and a harmless change passes; annotations still point at paths from the
// repository root, where GitHub resolves them.
func TestActionPassesInASubdirectory(t *testing.T) {
	patch := strings.Replace(readExample(t, "overlays/prod/deployment-prod.yaml"), "replicas: 3", "replicas: 4", 1)
	r, base := prRepo(t, "deploy", map[string]string{"overlays/prod/deployment-prod.yaml": patch})
	a := runAction(t, r.Dir, base, map[string]string{"working-directory": "deploy", "environments": "prod"})
	if a.code != 0 {
		t.Fatalf("gate step exit %d, want 0\n%s", a.code, a.stdout)
	}
	if v := a.output("verdict"); v != "pass" {
		t.Errorf("verdict %q, want pass", v)
	}
	// Already on the base: a notice that says so, not a warning of this change.
	want := "::notice file=deploy/overlays/prod/db-credentials.yaml,line=2,title=prod%3A schema/missing-schema (existing warning%2C not introduced by this change)::"
	if !strings.Contains(a.stdout, want) {
		t.Errorf("no annotation %q in:\n%s", want, a.stdout)
	}
	if !strings.Contains(a.summary, "| prod | ✅ pass |") || strings.Contains(a.summary, "| dev |") {
		t.Errorf("summary should list prod only, passing:\n%s", a.summary)
	}
	if !strings.Contains(a.summary, "spec.replicas") {
		t.Errorf("summary lacks the replica change:\n%s", a.summary)
	}
}

// TestActionFailOnScope: the threshold comes from the inputs when given,
// else from the base's gate.yaml. A replica change to prod, whose base
// already has a warning (the SealedSecret without a schema): fail-on
// warning passes (the warning is existing), fail-on-scope all fails it.
func TestActionFailOnScope(t *testing.T) {
	patch := strings.Replace(readExample(t, "overlays/prod/deployment-prod.yaml"), "replicas: 3", "replicas: 4", 1)
	r, base := prRepo(t, "", map[string]string{"overlays/prod/deployment-prod.yaml": patch})
	for _, c := range []struct {
		inputs map[string]string
		code   int
	}{
		{map[string]string{"fail-on": "warning"}, 0},
		{map[string]string{"fail-on": "warning", "fail-on-scope": "all"}, 1},
		{map[string]string{"fail-on-scope": "all"}, 0}, // no existing error
	} {
		a := runAction(t, r.Dir, base, c.inputs)
		if a.code != c.code {
			t.Errorf("inputs %v: gate step exit %d, want %d\n%s", c.inputs, a.code, c.code, a.stdout)
		}
	}
}
