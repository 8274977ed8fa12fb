package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// preCommitEntry is the command the pre-commit hook runs, read from the
// repository's .pre-commit-hooks.yaml so the test exercises what users get.
func preCommitEntry(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID            string `yaml:"id"`
		Entry         string `yaml:"entry"`
		Language      string `yaml:"language"`
		PassFilenames *bool  `yaml:"pass_filenames"`
	}
	if err := yaml.Unmarshal(b, &hooks); err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		if h.ID != "gate" {
			continue
		}
		if h.Language != "golang" || h.PassFilenames == nil || *h.PassFilenames {
			t.Fatalf("hook gate: language %q, pass_filenames %v; want golang and false (gate reads the index itself)", h.Language, h.PassFilenames)
		}
		f := strings.Fields(h.Entry)
		if len(f) < 2 || f[0] != "gate" {
			t.Fatalf("hook entry %q does not run gate", h.Entry)
		}
		return f[1:]
	}
	t.Fatal("no hook with id gate in .pre-commit-hooks.yaml")
	return nil
}

// stagedRepo is the example ops repo committed to a real git repository,
// plus an environment ("tools") that shares no file with the shop overlays.
func stagedRepo(t *testing.T) *gittest.Repo {
	t.Helper()
	r := gittest.New(t)
	r.CopyTree(exampleRepo)
	cfg, err := os.ReadFile(filepath.Join(r.Dir, "gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.Write("gate.yaml", strings.Replace(string(cfg), "exceptions:",
		"  - name: tools\n    path: platform/tools\n    labels: {tier: development}\nexceptions:", 1))
	r.Write("platform/tools/kustomization.yaml", "resources: [configmap.yaml]\nnamespace: tools\n")
	r.Write("platform/tools/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tools\n  labels: {app.kubernetes.io/name: tools}\ndata:\n  a: b\n")
	r.Commit("ops repo")
	return r
}

// TestStagedChecksOnlyTouchedEnvironments runs the pre-commit hook's
// command on a staged change and shows which environments it renders:
// only those whose render reads a staged file, judged on the index (not
// on unstaged edits in the work tree).
func TestStagedChecksOnlyTouchedEnvironments(t *testing.T) {
	hook := preCommitEntry(t)
	cases := []struct {
		name    string
		stage   map[string]string // staged edits: path → content ("" removes)
		checked []string
		because string // a changed file every checked env names
		code    int
		// wantText are lines the text report must contain (findings on
		// file:line for a failing commit).
		wantText []string
	}{
		{
			name:    "overlay patch",
			stage:   map[string]string{"overlays/prod/deployment-prod.yaml": strings.Replace(readExample(t, "overlays/prod/deployment-prod.yaml"), "replicas: 3", "replicas: 4", 1)},
			checked: []string{"prod"},
			because: "overlays/prod/deployment-prod.yaml",
		},
		{
			name:    "shared base",
			stage:   map[string]string{"base/deployment.yaml": strings.Replace(readExample(t, "base/deployment.yaml"), "memory: 128Mi", "memory: 192Mi", 1)},
			checked: []string{"dev", "staging", "prod"},
			because: "base/deployment.yaml",
		},
		{
			name:    "gate.yaml",
			stage:   map[string]string{"gate.yaml": ""}, // filled below: a new label
			checked: []string{"dev", "staging", "prod", "tools"},
			because: "gate.yaml",
		},
		{
			name:    "failing patch",
			stage:   map[string]string{"overlays/prod/deployment-prod.yaml": readExample(t, "overlays/prod/deployment-prod.yaml") + "          image: ghcr.io/example/shop:latest\n"},
			checked: []string{"prod"},
			because: "overlays/prod/deployment-prod.yaml",
			code:    1,
			wantText: []string{
				"overlays/prod/deployment-prod.yaml:15: error new image-tag-pinned",
			},
		},
		{
			// An empty change reaches no environment: nothing is judged
			// (the unstaged breakage below is not part of the commit).
			name:    "nothing staged",
			stage:   map[string]string{},
			checked: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := stagedRepo(t)
			for p, c := range tc.stage {
				if p == "gate.yaml" && c == "" {
					b, _ := os.ReadFile(filepath.Join(r.Dir, p))
					c = strings.Replace(string(b), "labels: {tier: development}", "labels: {tier: development, team: shop}", 1)
				}
				r.Write(p, c)
				r.Git("add", p)
			}
			// Unstaged edits are not part of the commit: a broken dev
			// overlay and a broken tools file in the work tree change
			// nothing.
			r.Write("overlays/dev/kustomization.yaml", "resources: [\n")
			r.Write("platform/tools/configmap.yaml", "kind: [\n")

			args := append([]string{"--repo", r.Dir}, hook...)
			out, stderr, code := runGate(t, append(args, "-o", "json")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stderr, out)
			}
			var rep checks.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("not a JSON report: %v\n%s", err, out)
			}
			var checked, untouched []string
			for _, er := range rep.Envs {
				switch er.Status {
				case checks.EnvChecked:
					checked = append(checked, er.Env.Name)
					if !slices.Contains(er.Because, tc.because) {
						t.Errorf("%s: because %v, want it to name %s", er.Env.Name, er.Because, tc.because)
					}
					if er.Resources == 0 {
						t.Errorf("%s: checked but no resources rendered", er.Env.Name)
					}
				case checks.EnvUntouched:
					untouched = append(untouched, er.Env.Name)
					if er.Resources != 0 || len(er.Findings) != 0 || er.Diff != nil {
						t.Errorf("%s: untouched but rendered: %+v", er.Env.Name, er)
					}
				}
			}
			if strings.Join(checked, ",") != strings.Join(tc.checked, ",") {
				t.Errorf("checked %v, want %v (untouched %v)", checked, tc.checked, untouched)
			}
			if len(checked)+len(untouched) != 4 {
				t.Errorf("report lists %d environments, want all 4", len(checked)+len(untouched))
			}
			if rep.BaseRev != r.Git("rev-parse", "HEAD") {
				t.Errorf("base %q, want HEAD", rep.BaseRev)
			}
			if len(tc.wantText) > 0 {
				text, _, _ := runGate(t, append(args, "--no-color")...)
				for _, w := range tc.wantText {
					if !strings.Contains(text, w) {
						t.Errorf("text report lacks %q:\n%s", w, text)
					}
				}
			}
		})
	}
}

// TestStagedFirstCommit: with no HEAD yet every environment is new, so all
// of them are checked, and the work tree still does not count.
func TestStagedFirstCommit(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree(exampleRepo)
	r.Git("add", "-A")
	r.Write("overlays/dev/kustomization.yaml", "resources: [\n")
	out, stderr, code := runGate(t, append(append([]string{"--repo", r.Dir}, preCommitEntry(t)...), "-o", "json")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, er := range rep.Envs {
		if er.Status == checks.EnvChecked && er.Resources > 0 {
			names = append(names, er.Env.Name)
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "dev,prod,staging" {
		t.Errorf("checked %v, want every environment", names)
	}
}

// TestChangedFilesFlag: a change named on stdin (as CI systems list it)
// selects environments the same way, against the work tree.
func TestChangedFilesFlag(t *testing.T) {
	for _, tc := range []struct {
		files string
		want  string
	}{
		{"overlays/staging/replicas-json6902.yaml\n", "staging"},
		{"components/monitoring/podmonitor.yaml\n", "staging,prod"},
		{"README.md\n", ""},
	} {
		var stdout, stderr strings.Builder
		code := execute(t.Context(), []string{"--repo", exampleRepo, "check", "--changed-files", "-", "-o", "json"}, strings.NewReader(tc.files), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.files, code, stderr.String())
		}
		var rep checks.Report
		if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, er := range rep.Envs {
			if er.Status == checks.EnvChecked {
				got = append(got, er.Env.Name)
			}
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%q: checked %v, want %s", tc.files, got, tc.want)
		}
	}
}

func readExample(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleRepo, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
