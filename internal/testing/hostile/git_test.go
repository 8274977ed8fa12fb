package hostile

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
)

// gitable reports whether the case can be committed: git holds no pipes.
func (c *hostileCase) gitable() bool {
	for _, g := range c.Generate {
		if g.Kind == "fifo" {
			return false
		}
	}
	return true
}

// realGit is the git binary, found before the net guard puts its fake
// first on PATH: the test itself commits with it, gate never runs it.
var realGit string

// commitSource commits the tree at dir (its own planted .git aside) into a
// new repository, plants the canary in that repository's config, and
// returns the commit as a Source read from the object store, the way gate
// reads a pull request's head and base.
func commitSource(t *testing.T, dir string, maxSize int64) source.Source {
	t.Helper()
	if realGit == "" {
		t.Fatal("no git binary")
	}
	gitDir := filepath.Join(t.TempDir(), "repo")
	if err := copyTree(dir, gitDir, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(gitDir, ".git")); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		cmd := exec.Command(realGit, append([]string{"-c", "user.name=hostile", "-c", "user.email=hostile@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = gitDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q")
	run("add", "-A")
	run("commit", "-q", "--allow-empty", "-m", "hostile case")
	f, err := os.OpenFile(filepath.Join(gitDir, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("[gate]\n\ttoken = " + Canary + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	repo, err := gitsrc.Open(gitDir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitsrc.ResolveCommit(repo, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := gitsrc.FromCommit(repo, c, maxSize)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}
