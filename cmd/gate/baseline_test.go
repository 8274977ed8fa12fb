package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

// debtRepo is an ordinary kustomize app whose base already has findings of
// the built-in library (15): four Deployments without resources or
// runAsNonRoot, two of them with an untagged image, and a generated Secret
// (secretGenerator: its name has a hash suffix).
func debtRepo(t *testing.T) *gittest.Repo {
	t.Helper()
	r := gittest.New(t)
	r.Write("gate.yaml", "environments:\n  - name: prod\n    path: app\npolicies:\n  builtin: strict\n")
	r.Write("app/kustomization.yaml", `resources:
  - web.yaml
  - worker.yaml
  - api.yaml
  - jobs.yaml
secretGenerator:
  - name: creds
    literals:
      - password=hunter2
`)
	for _, name := range []string{"web", "worker"} {
		r.Write("app/"+name+".yaml", deployment(name, 3, "ghcr.io/acme/"+name+":1.0.0", "docker.io/library/busybox"))
	}
	for _, name := range []string{"api", "jobs"} {
		r.Write("app/"+name+".yaml", deployment(name, 2, "ghcr.io/acme/"+name+":2.1.0"))
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "base with debt")
	return r
}

// deployment renders a Deployment with one container per image, each
// without resources or a security context.
func deployment(name string, replicas int, images ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: %d
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      containers:
`, name, replicas, name, name)
	for i, img := range images {
		fmt.Fprintf(&b, "        - name: c%d\n          image: %s\n", i, img)
	}
	return b.String()
}

func readRepo(t *testing.T, r *gittest.Repo, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkJSON(t *testing.T, dir string, args ...string) (*checks.Report, int) {
	t.Helper()
	out, stderr, code := runGate(t, append([]string{"--repo", dir, "check", "-o", "json"}, args...)...)
	var rep checks.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, not a JSON report: %v\n%s", code, err, stderr)
	}
	return &rep, code
}

func byState(rep *checks.Report, state string) []checks.Finding {
	var out []checks.Finding
	for _, f := range rep.AllFindings() {
		if f.Baseline == state {
			out = append(out, f)
		}
	}
	for _, e := range rep.Envs {
		if state == checks.BaselineFixed {
			out = append(out, e.Fixed...)
		}
	}
	return out
}

// TestCheckJudgesWhatTheChangeIntroduces is the adoption story: a base
// with existing debt, and pull requests against it.
func TestCheckJudgesWhatTheChangeIntroduces(t *testing.T) {
	r := debtRepo(t)
	all, code := checkJSON(t, r.Dir)
	if code != 1 || len(all.AllFindings()) != 15 {
		for _, f := range all.AllFindings() {
			t.Log(f)
		}
		t.Fatalf("the base itself: exit %d with %d findings, want exit 1 with the 15 findings of its debt", code, len(all.AllFindings()))
	}
	base := r.Git("rev-parse", "HEAD")

	t.Run("one replica count", func(t *testing.T) {
		r.Git("checkout", "-q", "-B", "replicas", base)
		r.Write("app/web.yaml", deployment("web", 4, "ghcr.io/acme/web:1.0.0", "docker.io/library/busybox"))
		rep, code := checkJSON(t, r.Dir, "--base", base)
		b := rep.Baseline
		if code != 0 || b == nil || b.New != 0 || b.Existing != 15 || b.Fixed != 0 || !rep.Pass {
			t.Fatalf("exit %d, baseline %+v; want exit 0, 0 new, 15 existing", code, b)
		}
		out, _, _ := runGate(t, "--repo", r.Dir, "check", "--base", base)
		if !strings.Contains(out, "(0 new, 15 existing, 0 fixed against the base)") {
			t.Errorf("text report does not say 0 new, 15 existing:\n%s", out)
		}
		// scope all restores the old verdict.
		if _, code := checkJSON(t, r.Dir, "--base", base, "--fail-on-scope", "all"); code != 1 {
			t.Errorf("--fail-on-scope all: exit %d, want 1", code)
		}
	})

	t.Run("a latest image", func(t *testing.T) {
		r.Git("checkout", "-q", "-f", "-B", "latest", base)
		r.Write("app/web.yaml", strings.Replace(deployment("web", 3, "ghcr.io/acme/web:1.0.0", "docker.io/library/busybox"),
			"image: ghcr.io/acme/web:1.0.0", "image: ghcr.io/acme/web:latest", 1))
		rep, code := checkJSON(t, r.Dir, "--base", base)
		fresh := byState(rep, checks.BaselineNew)
		if code != 1 || len(fresh) != 1 {
			t.Fatalf("exit %d, new findings %v; want exit 1 and exactly one", code, fresh)
		}
		f := fresh[0]
		if f.RuleID != "image-tag-pinned" || f.Origin.File != "app/web.yaml" || f.Origin.Line != 15 {
			t.Errorf("new finding %s, want image-tag-pinned at app/web.yaml:15 (the image line)", f)
		}
		if n := len(byState(rep, checks.BaselineExisting)); n != 15 {
			t.Errorf("%d existing, want 15", n)
		}
	})

	t.Run("generator rename and moves", func(t *testing.T) {
		r.Git("checkout", "-q", "-f", "-B", "moves", base)
		// A new literal renames the generated Secret (new hash suffix);
		// the worker moves below a new Service in its file.
		k := strings.Replace(readRepo(t, r, "app/kustomization.yaml"), "password=hunter2", "password=hunter3", 1)
		r.Write("app/kustomization.yaml", k)
		svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: worker\nspec:\n  selector: {app: worker}\n  ports: [{port: 80}]\n---\n"
		r.Write("app/worker.yaml", svc+deployment("worker", 3, "ghcr.io/acme/worker:1.0.0", "docker.io/library/busybox"))
		rep, code := checkJSON(t, r.Dir, "--base", base)
		if fresh := byState(rep, checks.BaselineNew); code != 0 || len(fresh) != 0 {
			t.Fatalf("exit %d, new findings %v; want none", code, fresh)
		}
		if rep.Envs[0].Diff == nil || len(rep.Envs[0].Diff.Changes) < 2 {
			t.Errorf("diff %+v: the change should rename the Secret and add a Service", rep.Envs[0].Diff)
		}
		if fixed := byState(rep, checks.BaselineFixed); len(fixed) != 0 {
			t.Errorf("fixed %v; want none", fixed)
		}
	})

	t.Run("fixing debt is progress", func(t *testing.T) {
		r.Git("checkout", "-q", "-f", "-B", "fix", base)
		k := readRepo(t, r, "app/kustomization.yaml")
		r.Write("app/kustomization.yaml", k[:strings.Index(k, "secretGenerator:")])
		rep, code := checkJSON(t, r.Dir, "--base", base)
		fixed := byState(rep, checks.BaselineFixed)
		if code != 0 || len(fixed) != 1 || fixed[0].RuleID != "no-plaintext-secrets" || rep.Baseline.Fixed != 1 {
			t.Errorf("exit %d, fixed %v; want the generated Secret's finding listed as fixed", code, fixed)
		}
	})
}

// hygiene are the built-in rules that are warnings in the recommended set.
var hygiene = map[string]bool{"image-tag-pinned": true, "resources-set": true, "run-as-non-root": true, "no-plaintext-secrets": true,
	"required-labels": true, "production-replicas": true, "production-pdb": true, "service-exposed": true}

// TestFirstCheckHasNoHygieneErrors: the first `gate check` on the bundled
// example and on an ordinary kustomize overlay (the debt repo without
// gate.yaml's strict) gives no error from a hygiene rule; builtin: strict
// restores the old severities.
func TestFirstCheckHasNoHygieneErrors(t *testing.T) {
	r := debtRepo(t)
	r.Write("gate.yaml", "environments:\n  - name: prod\n    path: app\n")
	r.Git("commit", "-q", "-am", "recommended set")
	for name, dir := range map[string]string{"example": exampleRepo, "overlay": r.Dir} {
		rep, code := checkJSON(t, dir)
		hyg := 0
		for _, f := range rep.AllFindings() {
			if hygiene[f.RuleID] {
				hyg++
				if f.Severity == checks.SeverityError {
					t.Errorf("%s: hygiene rule at error: %s", name, f)
				}
			}
		}
		if name == "overlay" && (code != 0 || hyg != 15) {
			t.Errorf("overlay: exit %d with %d hygiene findings, want exit 0 and the 15 findings shown as warnings", code, hyg)
		}
		if name == "example" && code != 0 {
			t.Errorf("example: exit %d, want 0", code)
		}
	}
	r.Write("gate.yaml", "environments:\n  - name: prod\n    path: app\npolicies:\n  builtin: strict\n")
	rep, code := checkJSON(t, r.Dir)
	if n := len(rep.AllFindings()); code != 1 || n != 15 || !checks.Failing(rep.AllFindings(), checks.SeverityError) {
		t.Errorf("builtin: strict: exit %d, %d findings; want exit 1 with the 15 at error", code, n)
	}
}

// TestEnvsShowTheVersionInUse: an environment that names no Kubernetes
// version is listed with the version it is validated against.
func TestEnvsShowTheVersionInUse(t *testing.T) {
	dir := writeTree(t, map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\n",
		"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"})
	out, stderr, code := runGate(t, "--repo", dir, "envs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "default") || !strings.Contains(out, " (newest)") {
		t.Errorf("gate envs does not show the version in use:\n%s", out)
	}
}

// TestOutsideAGitRepository: without --repo, a working directory outside
// any git repository is a usage error that says so, not a scan of it.
func TestOutsideAGitRepository(t *testing.T) {
	dir := writeTree(t, map[string]string{"a/kustomization.yaml": "resources: []\n"})
	t.Chdir(dir)
	_, stderr, code := runGate(t, "envs")
	if code != 2 || !strings.Contains(stderr, "is not inside a git repository") || !strings.Contains(stderr, "--repo DIR") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming --repo", code, stderr)
	}
	if _, _, code := runGate(t, "--repo", dir, "envs"); code != 0 {
		t.Errorf("--repo on a plain directory: exit %d, want 0", code)
	}
}
