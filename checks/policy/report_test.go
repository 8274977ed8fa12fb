package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// runPR builds a real git repository (main, then a pull request branch
// made by change) and runs the engine the way gate check --base main does:
// gate.yaml and the policy stage from the base commit, renderings of the
// head. It returns the report.
func runPR(t *testing.T, change func(r *gittest.Repo)) *checks.Report {
	t.Helper()
	gate := "environments:\n  - name: prod\n    path: env\n    labels: {tier: production}\n"
	r := gittest.New(t)
	r.Write("gate.yaml", gate)
	r.Write("policy/registry.rego", registryPolicy)
	r.Write("env/app.yaml", app("ghcr.io/acme/app:1.0.0"))
	r.Write("env/pdb.yaml", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  selector: {}\n")
	r.Commit("base")
	r.Git("checkout", "-q", "-b", "pr")
	change(r)
	r.Commit("pr")
	repo, err := gitsrc.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	base, err := gitsrc.FromRev(repo, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	head, err := gitsrc.FromRev(repo, "pr", 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	st, load := Load(context.Background(), base, cfg, testOpts())
	rep, err := engine.Run(context.Background(), &engine.Request{Head: head, Base: base, Config: cfg, Stages: []engine.Stage{st}, Findings: load})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestPolicyImpactInTheReport: gate check --base fills the report's policy
// impact from the pull request's own policies, while the verdict stays the
// base policies'.
func TestPolicyImpactInTheReport(t *testing.T) {
	t.Run("weakened policy: still fails, impact shows what it clears", func(t *testing.T) {
		rep := runPR(t, func(r *gittest.Repo) {
			r.Write("env/app.yaml", app("docker.io/acme/app:1.0.0"))
			r.Write("policy/registry.rego", weakenedRegistryPolicy)
		})
		if rep.Pass || len(byRule(rep.AllFindings(), "main.deny")) != 1 {
			t.Fatalf("verdict: pass=%v %s", rep.Pass, dump(rep.AllFindings()))
		}
		pi := rep.PolicyImpact
		if pi == nil || strings.Join(pi.ChangedFiles, ",") != "policy/registry.rego" || len(pi.Cleared) != 1 || pi.Cleared[0].RuleID != "main.deny" || len(pi.NewlyFlagged) != 0 {
			t.Fatalf("impact: %+v", pi)
		}
	})
	t.Run("stricter policy: newly flagged, verdict unchanged", func(t *testing.T) {
		stricter := strings.Replace(registryPolicy, `"ghcr.io/acme/"`, `"ghcr.io/acme/prod-"`, 1)
		rep := runPR(t, func(r *gittest.Repo) { r.Write("policy/registry.rego", stricter) })
		if !rep.Pass {
			t.Fatalf("the base policy passes the head: %s", dump(rep.AllFindings()))
		}
		pi := rep.PolicyImpact
		if pi == nil || len(pi.NewlyFlagged) != 1 || !strings.Contains(pi.NewlyFlagged[0].Message, "is not from ghcr.io/acme") || pi.NewlyFlagged[0].Origin.String() != "env/app.yaml:1" {
			t.Fatalf("impact: %+v", pi)
		}
	})
	t.Run("a broken policy in the change is shown before it merges", func(t *testing.T) {
		rep := runPR(t, func(r *gittest.Repo) {
			r.Write("policy/fetch.rego", "package main\n\ndeny contains msg if {\n\tmsg := http.send({\"method\": \"GET\", \"url\": \"https://x\"}).body\n}\n")
		})
		if !rep.Pass {
			t.Fatalf("verdict: %s", dump(rep.AllFindings()))
		}
		pi := rep.PolicyImpact
		if pi == nil || len(pi.NewlyFlagged) != 1 || pi.NewlyFlagged[0].RuleID != RuleLoad || pi.NewlyFlagged[0].Origin.String() != "policy/fetch.rego:4" {
			t.Fatalf("impact: %+v", pi)
		}
	})
	t.Run("a gate.yaml the change breaks is shown", func(t *testing.T) {
		rep := runPR(t, func(r *gittest.Repo) {
			r.Write("gate.yaml", "environments:\n  - name: prod\n    path: env\n    labls: {}\n")
		})
		pi := rep.PolicyImpact
		if pi == nil || len(pi.NewlyFlagged) != 1 || !strings.Contains(pi.NewlyFlagged[0].Message, "gate.yaml does not load") || pi.ChangedFiles[0] != "gate.yaml" {
			t.Fatalf("impact: %+v", pi)
		}
	})
	t.Run("a change without policy edits has no impact section", func(t *testing.T) {
		rep := runPR(t, func(r *gittest.Repo) { r.Write("env/app.yaml", app("ghcr.io/acme/app:1.0.1")) })
		if rep.PolicyImpact != nil || !rep.Pass {
			t.Fatalf("impact %+v, pass %v", rep.PolicyImpact, rep.Pass)
		}
	})
	t.Run("no base, no impact", func(t *testing.T) {
		src := source.NewMem("worktree", map[string]string{"gate.yaml": "environments:\n  - name: prod\n    path: env\n", "env/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"})
		cfg := mustConfig(t, src)
		st := mustLoad(t, src, cfg, testOpts())
		rep, err := engine.Run(context.Background(), &engine.Request{Head: src, Config: cfg, Stages: []engine.Stage{st}})
		if err != nil || rep.PolicyImpact != nil {
			t.Fatalf("%v %+v", err, rep.PolicyImpact)
		}
	})
}
