package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// runBoth runs req incrementally and in full (no base), and returns both
// reports' environments by name.
func runBoth(t *testing.T, r *gittest.Repo, base, head string) (incr, full map[string]checks.EnvReport) {
	t.Helper()
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
	cfg, _, err := config.Load(ht, "")
	if err != nil {
		t.Fatal(err)
	}
	byName := func(req *engine.Request) map[string]checks.EnvReport {
		rep, err := engine.Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]checks.EnvReport{}
		for _, e := range rep.Envs {
			out[e.Env.Name] = e
		}
		return out
	}
	incr = byName(&engine.Request{Head: ht, Base: bt, Config: cfg, Incremental: true})
	full = byName(&engine.Request{Head: ht, Config: cfg})
	return incr, full
}

// findingKeys are the render findings of a report, one line each.
func findingKeys(fs []checks.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Check != "render" {
			continue // the diff stage runs with a base only
		}
		out = append(out, f.RuleID+" "+f.Origin.File+":"+itoa(f.Origin.Line)+" "+f.Message)
	}
	return out
}

// TestOutsideClosureIsAFinding: a builtin plugin config the closure does
// not follow (its apiVersion spelled with a YAML escape, so no marker
// shows in its bytes) names a file outside the environment's closure; the
// render is refused that file with the confinement's error, as a finding
// on the config's line, in a full run and in an incremental one alike.
func TestOutsideClosureIsAFinding(t *testing.T) {
	r := gittest.New(t)
	r.CopyTree("../../testdata/example")
	base := r.Commit("base")
	r.Write("overlays/dev/kustomization.yaml", strings.Replace(read(t, r, "overlays/dev/kustomization.yaml"), "configMapGenerator:", "generators:\n  - gen.yaml\nconfigMapGenerator:", 1))
	r.Write("overlays/dev/gen.yaml", "apiVersion: \"bu\\x69ltin\"\nkind: ConfigMapGenerator\nmetadata:\n  name: outside\nfiles:\n  - ../../secret.txt\n")
	r.Write("secret.txt", "hunter2\n")
	head := r.Commit("read outside")
	incr, full := runBoth(t, r, base, head)
	want := "render/outside-closure overlays/dev/gen.yaml:6 "
	for name, rep := range map[string]map[string]checks.EnvReport{"incremental": incr, "full": full} {
		got := findingKeys(rep["dev"].Findings)
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, want) && strings.Contains(g, "secret.txt: outside the files environment dev may read") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s run: dev findings %q, want one %q... naming the confinement", name, got, want)
		}
	}
	if a, b := strings.Join(findingKeys(incr["dev"].Findings), "\n"), strings.Join(findingKeys(full["dev"].Findings), "\n"); a != b {
		t.Errorf("incremental findings differ from the full run's:\n%s\n---\n%s", a, b)
	}
	if incr["dev"].Status != checks.EnvChecked || incr["prod"].Status != checks.EnvUntouched {
		t.Errorf("statuses dev %s prod %s, want dev checked and prod untouched", incr["dev"].Status, incr["prod"].Status)
	}
}

// TestClosureSymlinks: a symlink inside an environment brings its target
// into the closure, a file or a directory: an edit of the target, or a
// retargeted link, touches the environment; an edit elsewhere does not.
func TestClosureSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *gittest.Repo)
		want   string
		env    string
	}{
		{"edit a linked file", func(r *gittest.Repo) { r.Write("shared/cm.yaml", cm("2")) }, checks.EnvChecked, "dev"},
		// No string names raw/cm.yaml: a plain environment reads its
		// directory's files, so only the closure's walk finds the link.
		{"edit a file a plain env's link names", func(r *gittest.Repo) { r.Write("shared/raw.yaml", cm("7")) }, checks.EnvChecked, "raw"},
		{"edit elsewhere, plain env", func(r *gittest.Repo) { r.Write("unrelated/x.yaml", cm("5")) }, checks.EnvUntouched, "raw"},
		{"edit in a linked directory", func(r *gittest.Repo) { r.Write("lib/more/cm2.yaml", strings.Replace(cm("3"), "shared", "more", 1)) }, checks.EnvChecked, "dev"},
		{"retarget a link", func(r *gittest.Repo) {
			r.Write("shared/other.yaml", cm("9"))
			if err := os.Remove(filepath.Join(r.Dir, "overlays/dev/shared-cm.yaml")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../shared/other.yaml", filepath.Join(r.Dir, "overlays/dev/shared-cm.yaml")); err != nil {
				t.Fatal(err)
			}
		}, checks.EnvChecked, "dev"},
		{"edit elsewhere", func(r *gittest.Repo) { r.Write("unrelated/x.yaml", cm("5")) }, checks.EnvUntouched, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gittest.New(t)
			r.CopyTree("../../testdata/example")
			r.Write("overlays/dev/kustomization.yaml", strings.Replace(read(t, r, "overlays/dev/kustomization.yaml"), "  - sa-token.yaml\n", "  - sa-token.yaml\n  - shared-cm.yaml\n  - lib\n", 1))
			r.Write("shared/cm.yaml", cm("1"))
			r.Write("shared/raw.yaml", strings.Replace(cm("1"), "shared", "raw", 1))
			r.Write("gate.yaml", strings.Replace(read(t, r, "gate.yaml"), "environments:\n", "environments:\n  - name: raw\n    path: raw\n", 1))
			r.Write("lib/more/kustomization.yaml", "resources: []\n")
			r.Write("lib/more/README.md", "x\n")
			r.Write("lib/kustomization.yaml", "resources:\n  - more\n")
			if err := os.MkdirAll(filepath.Join(r.Dir, "raw"), 0o755); err != nil {
				t.Fatal(err)
			}
			for link, to := range map[string]string{"overlays/dev/shared-cm.yaml": "../../shared/cm.yaml", "overlays/dev/lib": "../../lib", "raw/cm.yaml": "../shared/raw.yaml"} {
				if err := os.Symlink(to, filepath.Join(r.Dir, link)); err != nil {
					t.Fatal(err)
				}
			}
			base := r.Commit("base")
			tc.change(r)
			if tc.name == "edit in a linked directory" {
				r.Write("lib/more/kustomization.yaml", "resources:\n  - cm2.yaml\n")
			}
			head := r.Commit("change")
			incr, full := runBoth(t, r, base, head)
			if incr[tc.env].Status != tc.want {
				t.Fatalf("%s is %s (because %v), want %s", tc.env, incr[tc.env].Status, incr[tc.env].Because, tc.want)
			}
			if tc.want == checks.EnvChecked {
				if a, b := strings.Join(findingKeys(incr[tc.env].Findings), "\n"), strings.Join(findingKeys(full[tc.env].Findings), "\n"); a != b {
					t.Errorf("incremental findings differ from the full run's:\n%s\n---\n%s", a, b)
				}
			}
		})
	}
}

func cm(v string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: \"" + v + "\"\n"
}
