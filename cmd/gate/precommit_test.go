package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/testing/gittest"
)

// TestPreCommitThroughTheRealPreCommit installs gate's hook with the real
// pre-commit (Debian's package; make pre-commit) from a local clone of this
// repository, as a user's .pre-commit-config.yaml names it, and commits
// through it: pre-commit builds the hook with `go install ./...` from the
// clone (.pre-commit-hooks.yaml, language golang) and runs its entry on
// every commit. A commit that only changes a replica count in a repo whose
// HEAD already has 15 findings goes through (0 new); one that adds an
// untagged image is refused with the finding at its line, and HEAD stays.
//
// Without pre-commit on the PATH the test is skipped, unless CI or
// GATE_PRECOMMIT is set (then it fails: make test installs it).
func TestPreCommitThroughTheRealPreCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gate through pre-commit")
	}
	bin, err := exec.LookPath("pre-commit")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("GATE_PRECOMMIT") != "" {
			t.Fatalf("pre-commit is not on the PATH (make pre-commit installs it): %v", err)
		}
		t.Skip("pre-commit not on the PATH (make pre-commit)")
	}
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}

	// The hook repository: this checkout's files as they are now
	// (committed or not), committed to a repository of their own.
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	hooks := gittest.New(t)
	hooks.Git("--work-tree="+root, "add", "-A")
	hooks.Git("--work-tree="+root, "commit", "-q", "-m", "gate at the commit under test")
	rev := hooks.Git("rev-parse", "HEAD")

	// The user's ops repo, with debt on HEAD, and their pre-commit config.
	r := debtRepo(t)
	r.Write(".pre-commit-config.yaml", "repos:\n  - repo: "+hooks.Dir+"\n    rev: "+rev+"\n    hooks:\n      - id: gate\n")
	r.Git("add", ".pre-commit-config.yaml")
	r.Git("commit", "-q", "-m", "pre-commit config")

	// pre-commit keeps its clones and environments here; go keeps using
	// the machine's module and build caches (pre-commit sets GOPATH).
	env := append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.Dir, "PRE_COMMIT_HOME="+t.TempDir(),
		"GOENV="+goEnv("GOENV"), "GOMODCACHE="+goEnv("GOMODCACHE"), "GOCACHE="+goEnv("GOCACHE"), "NO_COLOR=1")
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = r.Dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(bin, "install"); err != nil || !strings.Contains(out, "pre-commit installed at .git/hooks/pre-commit") {
		t.Fatalf("pre-commit install: %v\n%s", err, out)
	}

	// One replica count: existing debt does not stop the commit.
	r.Write("app/web.yaml", deployment("web", 4, "ghcr.io/acme/web:1.0.0", "docker.io/library/busybox"))
	r.Git("add", "app/web.yaml")
	out, err := run("git", "commit", "-m", "web: 4 replicas")
	if err != nil {
		t.Fatalf("commit of a replica count through the hook: %v\n%s", err, out)
	}
	if !strings.Contains(out, "gate check (staged environments)") || !strings.Contains(out, "Passed") {
		t.Errorf("the hook did not run and pass:\n%s", out)
	}
	head := r.Git("rev-parse", "HEAD")
	if msg := r.Git("log", "-1", "--format=%s"); msg != "web: 4 replicas" {
		t.Fatalf("HEAD is %q, want the replica commit", msg)
	}

	// An untagged image: refused, the finding on its line, HEAD unchanged.
	r.Write("app/api.yaml", strings.Replace(deployment("api", 2, "ghcr.io/acme/api:2.1.0"), "ghcr.io/acme/api:2.1.0", "ghcr.io/acme/api", 1))
	r.Git("add", "app/api.yaml")
	out, err = run("git", "commit", "-m", "api: untagged")
	if err == nil {
		t.Fatalf("the hook let an untagged image through:\n%s", out)
	}
	t.Logf("refused commit:\n%s", out)
	for _, want := range []string{"gate check (staged environments)", "Failed",
		"app/api.yaml:15: error new image-tag-pinned Deployment/api", "(1 new, 15 existing, 0 fixed against the base)"} {
		if !strings.Contains(out, want) {
			t.Errorf("hook output lacks %q:\n%s", want, out)
		}
	}
	if got := r.Git("rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved to %s after a refused commit", got)
	}
}
