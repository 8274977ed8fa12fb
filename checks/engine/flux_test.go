package engine_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestFluxIncremental: on a Flux repo a change touches exactly the
// clusters whose render reads it: a values file, a HelmRelease patch, a
// ConfigMap feeding valuesFrom, a chart, a cluster's Kustomization.
func TestFluxIncremental(t *testing.T) {
	tests := []struct {
		name    string
		change  func(r *gittest.Repo)
		checked map[string][]string
	}{
		{"prod HelmRelease values", func(r *gittest.Repo) {
			r.Write("apps/prod/release-values.yaml", strings.Replace(read(t, r, "apps/prod/release-values.yaml"), "replicaCount: 3", "replicaCount: 4", 1))
		}, map[string][]string{"prod": {"apps/prod/release-values.yaml"}}},
		{"staging valuesFrom ConfigMap", func(r *gittest.Repo) {
			r.Write("apps/staging/values.yaml", strings.Replace(read(t, r, "apps/staging/values.yaml"), "1.28-rc", "1.28", 1))
		}, map[string][]string{"staging": {"apps/staging/values.yaml"}}},
		{"shared HelmRelease", func(r *gittest.Repo) {
			r.Write("apps/base/release.yaml", read(t, r, "apps/base/release.yaml")+"    extra: true\n")
		}, map[string][]string{"prod": {"apps/base/release.yaml"}, "staging": {"apps/base/release.yaml"}}},
		{"chart values", func(r *gittest.Repo) {
			r.Write("charts/web/values.yaml", read(t, r, "charts/web/values.yaml")+"extra: 1\n")
		}, map[string][]string{"prod": {"charts/web/values.yaml"}, "staging": {"charts/web/values.yaml"}}},
		{"cluster Kustomization", func(r *gittest.Repo) {
			r.Write("clusters/staging/apps.yaml", strings.Replace(read(t, r, "clusters/staging/apps.yaml"), "interval: 10m", "interval: 5m", 1))
		}, map[string][]string{"staging": {"clusters/staging/apps.yaml"}}},
		{"new file in a cluster directory", func(r *gittest.Repo) {
			r.Write("clusters/prod/extra.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n")
		}, map[string][]string{"prod": {"clusters/prod/extra.yaml"}}},
		{"docs only", func(r *gittest.Repo) {
			r.Write("docs/README.md", "hello\n")
		}, map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gittest.New(t)
			r.CopyTree("../../testdata/flux/fleet")
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
				}
				if e.Env.Kind != "flux" {
					t.Errorf("%s is a %s environment, want flux", e.Env.Name, e.Env.Kind)
				}
			}
			if !reflect.DeepEqual(got, tt.checked) {
				t.Errorf("checked %v, want %v", got, tt.checked)
			}
		})
	}
}
