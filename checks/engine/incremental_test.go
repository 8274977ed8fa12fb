package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// countingStage records which environments the engine checked.
type countingStage struct{ seen []string }

func (c *countingStage) Name() string { return "count" }
func (c *countingStage) Check(_ context.Context, in *engine.Input) ([]checks.Finding, error) {
	c.seen = append(c.seen, in.Env.Name)
	return nil, nil
}

func TestIncremental(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(r *gittest.Repo) // the base, on top of the example repo
		change  func(r *gittest.Repo)
		checked map[string][]string // env -> because
	}{
		{"overlay patch", nil, func(r *gittest.Repo) {
			r.Write("overlays/prod/deployment-prod.yaml", strings.Replace(read(t, r, "overlays/prod/deployment-prod.yaml"), "replicas: 3", "replicas: 4", 1))
		}, map[string][]string{"prod": {"overlays/prod/deployment-prod.yaml"}}},
		{"shared base", nil, func(r *gittest.Repo) {
			r.Write("base/service.yaml", read(t, r, "base/service.yaml")+"  type: ClusterIP\n")
		}, map[string][]string{"dev": {"base/service.yaml"}, "staging": {"base/service.yaml"}, "prod": {"base/service.yaml"}}},
		{"component used by two", nil, func(r *gittest.Repo) {
			r.Write("components/monitoring/podmonitor.yaml", strings.Replace(read(t, r, "components/monitoring/podmonitor.yaml"), "30", "15", 1))
		}, map[string][]string{"staging": {"components/monitoring/podmonitor.yaml"}, "prod": {"components/monitoring/podmonitor.yaml"}}},
		{"gate.yaml", nil, func(r *gittest.Repo) {
			r.Write("gate.yaml", read(t, r, "gate.yaml")+"\n")
		}, map[string][]string{"dev": {"gate.yaml"}, "staging": {"gate.yaml"}, "prod": {"gate.yaml"}}},
		{"policy", nil, func(r *gittest.Repo) {
			r.Write("policy/extra.rego", "package main\n")
		}, map[string][]string{"dev": {"policy/extra.rego"}, "staging": {"policy/extra.rego"}, "prod": {"policy/extra.rego"}}},
		{"docs only", nil, func(r *gittest.Repo) {
			r.Write("docs/README.md", "hello\n")
		}, map[string][]string{}},
		// The base of dev names a directory it lacks; the head adds it
		// outside the environment, and only dev's closure names it.
		{"base broken, fixed outside the env", func(r *gittest.Repo) {
			r.Write("overlays/dev/kustomization.yaml", strings.Replace(read(t, r, "overlays/dev/kustomization.yaml"), "  - sa-token.yaml\n", "  - sa-token.yaml\n  - ../../extra\n", 1))
		}, func(r *gittest.Repo) {
			r.Write("extra/kustomization.yaml", "resources:\n  - cm.yaml\n")
			r.Write("extra/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
		}, map[string][]string{"dev": {"extra/cm.yaml", "extra/kustomization.yaml"}}},
		// Files only the head's closure reaches: a new base of one environment.
		{"new base", nil, func(r *gittest.Repo) {
			r.Write("extra/kustomization.yaml", "resources:\n  - cm.yaml\n")
			r.Write("extra/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
			r.Write("overlays/staging/kustomization.yaml", strings.Replace(read(t, r, "overlays/staging/kustomization.yaml"), "  - ../../crds\n", "  - ../../crds\n  - ../../extra\n", 1))
		}, map[string][]string{"staging": {"extra/cm.yaml", "extra/kustomization.yaml", "overlays/staging/kustomization.yaml"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gittest.New(t)
			r.CopyTree("../../testdata/example")
			if tt.prepare != nil {
				tt.prepare(r)
			}
			base := r.Commit("base")
			tt.change(r)
			r.Commit("change")
			repo, err := gitsrc.Open(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			bt, err := gitsrc.FromRev(repo, base, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The head is the work tree, as `gate check --base` runs it.
			head, err := source.OpenDir(r.Dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _, err := config.Load(bt, "")
			if err != nil {
				t.Fatal(err)
			}
			st := &countingStage{}
			rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: bt, Config: cfg, Stages: []engine.Stage{st}, Incremental: true})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, e := range rep.Envs {
				if e.Status == checks.EnvChecked {
					got[e.Env.Name] = e.Because
				} else if e.Status != checks.EnvUntouched || len(e.Findings) != 0 {
					t.Errorf("%s: status %q with %d findings", e.Env.Name, e.Status, len(e.Findings))
				}
			}
			if !reflect.DeepEqual(got, tt.checked) {
				t.Errorf("checked %v, want %v", got, tt.checked)
			}
			if len(st.seen) != len(tt.checked) {
				t.Errorf("stages ran on %v", st.seen)
			}
			if len(rep.Envs) != 3 || rep.Envs[0].Env.Name != "dev" || rep.Envs[2].Env.Name != "prod" {
				t.Errorf("report lists %d environments out of order", len(rep.Envs))
			}
			// Untouched, asked before a run (the App creates those check
			// runs neutral at once), names exactly the ones Run left out.
			req := &engine.Request{Head: head, Base: bt, Config: cfg, Incremental: true}
			envs, _, err := engine.Plan(req)
			if err != nil {
				t.Fatal(err)
			}
			before, err := engine.Untouched(req, envs)
			if err != nil {
				t.Fatal(err)
			}
			var after []string
			for _, e := range rep.Envs {
				if e.Status == checks.EnvUntouched {
					after = append(after, e.Env.Name)
				}
			}
			if strings.Join(before, ",") != strings.Join(after, ",") {
				t.Errorf("Untouched before the run says %v, the run left out %v", before, after)
			}
		})
	}
}

func TestChangedFilesWorktreeVsCommit(t *testing.T) {
	r := gittest.New(t)
	r.Write("a.yaml", "a: 1\n")
	r.Write("b.yaml", "b: 1\n")
	base := r.Commit("base")
	r.Write("a.yaml", "a: 2\n")
	r.Remove("b.yaml")
	r.Write("c/d.yaml", "d: 1\n")
	repo, _ := gitsrc.Open(r.Dir)
	bt, _ := gitsrc.FromRev(repo, base, 0)
	head, _ := source.OpenDir(r.Dir, 0)
	got, err := engine.ChangedFiles(bt, head)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.yaml", "b.yaml", "c/d.yaml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Same content in the work tree and the commit: nothing changed.
	r.Commit("head")
	ht, _ := gitsrc.FromRev(repo, "HEAD", 0)
	head2, _ := source.OpenDir(r.Dir, 0)
	if got, _ := engine.ChangedFiles(ht, head2); len(got) != 0 {
		t.Errorf("identical trees differ: %v", got)
	}
}

func read(t *testing.T, r *gittest.Repo, rel string) string {
	t.Helper()
	src, err := source.OpenDir(r.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIncrementalSymlinkTarget: an environment reads a file through an
// in-repo symlink that the pull request leaves alone, and the pull request
// edits the symlink's target. Between two commits the diff names only the
// target, never the path the environment reads; the environment's render
// probed that path, its answer changed, so it is checked.
func TestIncrementalSymlinkTarget(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree("../../testdata/example")
	r.Write("overlays/dev/kustomization.yaml", strings.Replace(read(t, r, "overlays/dev/kustomization.yaml"), "  - sa-token.yaml\n", "  - sa-token.yaml\n  - shared-cm.yaml\n", 1))
	r.Write("shared/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: \"1\"\n")
	if err := os.Symlink("../../shared/cm.yaml", filepath.Join(r.Dir, "overlays/dev/shared-cm.yaml")); err != nil {
		t.Fatal(err)
	}
	base := r.Commit("base")
	r.Write("shared/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: \"2\"\n")
	head := r.Commit("change")
	repo, err := gitsrc.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := gitsrc.FromRev(repo, base, 0)
	if err != nil {
		t.Fatal(err)
	}
	ht, err := gitsrc.FromRev(repo, head, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(bt, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, cache := range []bool{false, true} {
		req := &engine.Request{Head: ht, Base: bt, Config: cfg, Incremental: true}
		if cache {
			c, err := render.OpenCache(t.TempDir(), "test")
			if err != nil {
				t.Fatal(err)
			}
			req.Render.Cache = c
		}
		rep, err := engine.Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range rep.Envs {
			got[e.Env.Name] = string(e.Status) + " " + strings.Join(e.Because, ",")
		}
		if got["dev"] != string(checks.EnvChecked)+" shared/cm.yaml" || !strings.HasPrefix(got["prod"], string(checks.EnvUntouched)) {
			t.Errorf("cache %v: %v, want dev checked because of shared/cm.yaml and prod untouched", cache, got)
		}
	}
}
