package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
)

// TestBaselineFileJudgesTheWorkTree is the work-tree half of adoption: a
// repo with 15 findings of debt writes a baseline; gate check without a
// base then passes, and fails on exactly the finding a later edit adds.
func TestBaselineFileJudgesTheWorkTree(t *testing.T) {
	r := debtRepo(t)
	out, stderr, code := runGate(t, "--repo", r.Dir, "baseline")
	if code != 0 {
		t.Fatalf("gate baseline: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"wrote gate-baseline.json: 15 findings in 1 environment\n",
		// Grouped by rule, one line each, most first.
		"  error   resources-set                6 findings in prod\n",
		"  error   image-tag-pinned             2 findings in prod\n",
		"  error   no-plaintext-secrets         1 finding in prod\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gate baseline output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "gate-baseline.json")); err != nil {
		t.Fatal(err)
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "baseline")

	t.Run("the debt passes", func(t *testing.T) {
		rep, code := checkJSON(t, r.Dir)
		b := rep.Baseline
		if code != 0 || b == nil || b.Against != "gate-baseline.json" || b.New != 0 || b.Existing != 15 || b.Fixed != 0 {
			t.Fatalf("exit %d, baseline %+v; want exit 0, 0 new, 15 existing against gate-baseline.json", code, b)
		}
		text, _, _ := runGate(t, "--repo", r.Dir, "check")
		if !strings.Contains(text, "(0 new, 15 existing, 0 fixed against gate-baseline.json)") {
			t.Errorf("text report does not say what it was judged against:\n%s", text)
		}
		if _, code := checkJSON(t, r.Dir, "--no-baseline"); code != 1 {
			t.Errorf("--no-baseline: exit %d, want 1 (every finding counts)", code)
		}
	})

	t.Run("edits that add nothing", func(t *testing.T) {
		// A replica count, a regenerated Secret (new hash suffix) and the
		// worker moved below a new Service in its file.
		r.Write("app/web.yaml", deployment("web", 4, "ghcr.io/acme/web:1.0.0", "docker.io/library/busybox"))
		r.Write("app/kustomization.yaml", strings.Replace(readRepo(t, r, "app/kustomization.yaml"), "password=hunter2", "password=hunter3", 1))
		svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: worker\nspec:\n  selector: {app: worker}\n  ports: [{port: 80}]\n---\n"
		r.Write("app/worker.yaml", svc+deployment("worker", 3, "ghcr.io/acme/worker:1.0.0", "docker.io/library/busybox"))
		rep, code := checkJSON(t, r.Dir)
		if fresh := byState(rep, checks.BaselineNew); code != 0 || len(fresh) != 0 || rep.Baseline.Existing != 15 {
			t.Fatalf("exit %d, new %v, baseline %+v; want exit 0, nothing new, 15 existing", code, fresh, rep.Baseline)
		}
		r.Git("checkout", "-q", "-f", "HEAD")
	})

	t.Run("a latest image", func(t *testing.T) {
		r.Write("app/web.yaml", strings.Replace(deployment("web", 3, "ghcr.io/acme/web:1.0.0", "docker.io/library/busybox"),
			"image: ghcr.io/acme/web:1.0.0", "image: ghcr.io/acme/web:latest", 1))
		rep, code := checkJSON(t, r.Dir)
		fresh := byState(rep, checks.BaselineNew)
		if code != 1 || len(fresh) != 1 {
			t.Fatalf("exit %d, new findings %v; want exit 1 and exactly one", code, fresh)
		}
		if f := fresh[0]; f.RuleID != "image-tag-pinned" || f.Origin.File != "app/web.yaml" || f.Origin.Line != 15 {
			t.Errorf("new finding %s, want image-tag-pinned at app/web.yaml:15", f)
		}
		if n := len(byState(rep, checks.BaselineExisting)); n != 15 {
			t.Errorf("%d existing, want 15", n)
		}
		r.Git("checkout", "-q", "-f", "HEAD")
	})

	t.Run("fixed debt", func(t *testing.T) {
		k := readRepo(t, r, "app/kustomization.yaml")
		r.Write("app/kustomization.yaml", k[:strings.Index(k, "secretGenerator:")])
		rep, code := checkJSON(t, r.Dir)
		if fixed := byState(rep, checks.BaselineFixed); code != 0 || len(fixed) != 1 || fixed[0].RuleID != "no-plaintext-secrets" {
			t.Errorf("exit %d, fixed %v; want the Secret's finding fixed", code, fixed)
		}
		r.Git("checkout", "-q", "-f", "HEAD")
	})

	t.Run("a base wins over the file", func(t *testing.T) {
		// Against a base the file is not read: the base's findings are
		// the baseline (so a pull request cannot bring its own).
		r.Write("gate-baseline.json", `{"version": 1, "findings": []}`)
		r.Git("commit", "-q", "-am", "empty the baseline")
		rep, code := checkJSON(t, r.Dir, "--base", "HEAD~1", "--all-envs")
		if code != 0 || rep.Baseline == nil || rep.Baseline.Against != "base" || rep.Baseline.Existing != 15 {
			t.Errorf("exit %d, baseline %+v; want exit 0 judged against the base", code, rep.Baseline)
		}
		if _, code := checkJSON(t, r.Dir); code != 1 {
			t.Errorf("empty baseline without a base: exit %d, want 1 (all 15 new)", code)
		}
	})

	t.Run("a broken file", func(t *testing.T) {
		r.Write("gate-baseline.json", "{\n  \"version\": 1,\n  \"findings\": [\n    {,\n")
		_, stderr, code := runGate(t, "--repo", r.Dir, "check")
		if code != 2 || !strings.Contains(stderr, "gate-baseline.json:4: not a baseline file") {
			t.Errorf("exit %d, stderr %q; want 2 naming gate-baseline.json:4", code, stderr)
		}
		_, stderr, code = runGate(t, "--repo", r.Dir, "check", "--baseline", "missing.json")
		if code != 2 || !strings.Contains(stderr, "missing.json") {
			t.Errorf("a named baseline that does not exist: exit %d, stderr %q; want 2", code, stderr)
		}
		_, stderr, code = runGate(t, "--repo", r.Dir, "baseline", "--file", "../outside.json")
		if code != 2 || !strings.Contains(stderr, "inside the repo") {
			t.Errorf("--file outside the repo: exit %d, stderr %q; want 2", code, stderr)
		}
	})
}
