package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

const registryPolicy = `package main

deny contains msg if {
	some c in input.spec.template.spec.containers
	not startswith(c.image, "ghcr.io/acme/")
	msg := sprintf("image %s is not from ghcr.io/acme", [c.image])
}
`

const weakenedRegistryPolicy = `package main

deny contains msg if {
	some c in input.spec.template.spec.containers
	not startswith(c.image, "ghcr.io/acme/")
	not startswith(c.image, "docker.io/")
	msg := sprintf("image %s is not from ghcr.io/acme", [c.image])
}
`

func app(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: shop
spec:
  replicas: 2
  template:
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: app
          image: ` + image + `
          resources:
            requests: {cpu: 10m, memory: 10Mi}
            limits: {cpu: 10m, memory: 10Mi}
`
}

// TestPullRequestCannotWeakenItsOwnPolicy builds a real git repository: main
// has a registry policy; pull requests change the image to docker.io and
// delete or weaken the policy, or switch a built-in rule off in gate.yaml.
// Judged by the base commit's policies (read from the git object store),
// each still fails; the policy impact shows what the change would clear.
func TestPullRequestCannotWeakenItsOwnPolicy(t *testing.T) {
	// strict: image-tag-pinned is an error, as the verdict below needs.
	gate := "environments:\n  - name: prod\n    path: env\n    labels: {tier: production}\npolicies:\n  builtin: strict\n"
	cases := []struct {
		name     string
		change   func(r *gittest.Repo)
		rule     string
		changed  []string
		stillRed bool
	}{
		{"delete the policy", func(r *gittest.Repo) { r.Remove("policy/registry.rego") }, "main.deny", []string{"policy/registry.rego"}, true},
		{"weaken the policy", func(r *gittest.Repo) { r.Write("policy/registry.rego", weakenedRegistryPolicy) }, "main.deny", []string{"policy/registry.rego"}, true},
		{"switch a built-in rule off", func(r *gittest.Repo) {
			r.Write("gate.yaml", gate+"  rules:\n    image-tag-pinned: \"off\"\n")
			r.Write("env/app.yaml", app("ghcr.io/acme/app:latest"))
		}, "image-tag-pinned", []string{"gate.yaml"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := gittest.New(t)
			r.Write("gate.yaml", gate)
			r.Write("policy/registry.rego", registryPolicy)
			r.Write("env/app.yaml", app("ghcr.io/acme/app:1.0.0"))
			r.Write("env/pdb.yaml", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  selector: {}\n")
			r.Commit("base")
			r.Git("checkout", "-q", "-b", "pr")
			r.Write("env/app.yaml", app("docker.io/acme/app:1.0.0"))
			tc.change(r)
			r.Commit("pr")

			repo, err := gitsrc.Open(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			base, err := gitsrc.FromRev(repo, "main", 0)
			if err != nil {
				t.Fatal(err)
			}
			head, err := source.OpenDir(r.Dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			baseCfg, _, err := config.Load(base, "")
			if err != nil {
				t.Fatal(err)
			}
			headCfg, _, err := config.Load(head, "")
			if err != nil {
				t.Fatal(err)
			}
			// The verdict: base policies and base gate.yaml over the head rendering.
			trusted := mustLoad(t, base, baseCfg, testOpts())
			results := renderAll(t, head, baseCfg)
			fs := check(t, trusted, results[0], nil)
			got := byRule(fs, tc.rule)
			if len(got) == 0 || !checks.Failing(got, checks.SeverityError) {
				t.Fatalf("the base policy must still fail the change: %s", dump(fs))
			}
			// The pull request's own policies would let it through.
			untrusted := mustLoad(t, head, headCfg, testOpts())
			if hf := check(t, untrusted, results[0], nil); len(byRule(hf, tc.rule)) != 0 {
				t.Fatalf("head policies should not flag it (the test is wrong): %s", dump(hf))
			}
			imp := Impact(context.Background(), trusted, untrusted, results)
			if imp == nil {
				t.Fatal("no policy impact for a change to policies")
			}
			if strings.Join(imp.ChangedFiles, ",") != strings.Join(tc.changed, ",") {
				t.Fatalf("changed files = %v, want %v", imp.ChangedFiles, tc.changed)
			}
			if len(imp.Cleared) != len(got) || imp.Cleared[0].RuleID != tc.rule || len(imp.NewlyFlagged) != 0 {
				t.Fatalf("impact: cleared %s newly %s", dump(imp.Cleared), dump(imp.NewlyFlagged))
			}
		})
	}
}

func TestImpactNewlyFlaggedAndNoChange(t *testing.T) {
	gate := "environments:\n  - name: prod\n    path: env\npolicies:\n  builtin: false\n"
	files := map[string]string{"gate.yaml": gate, "env/app.yaml": app("docker.io/acme/app:1.0.0")}
	base := source.NewMem("base", files)
	withPolicy := map[string]string{"policy/registry.rego": registryPolicy}
	for k, v := range files {
		withPolicy[k] = v
	}
	head := source.NewMem("head", withPolicy)
	cfg := mustConfig(t, base)
	bs, hs := mustLoad(t, base, cfg, testOpts()), mustLoad(t, head, cfg, testOpts())
	results := renderAll(t, head, cfg)
	imp := Impact(context.Background(), bs, hs, results)
	if imp == nil || len(imp.NewlyFlagged) != 1 || imp.NewlyFlagged[0].RuleID != "main.deny" || len(imp.Cleared) != 0 {
		t.Fatalf("impact = %+v", imp)
	}
	if Impact(context.Background(), bs, mustLoad(t, base, cfg, testOpts()), results) != nil {
		t.Fatal("no policy change must give no impact section")
	}
}
