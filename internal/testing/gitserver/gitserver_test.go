package gitserver_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/testing/gitserver"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCloneWithBasicAuth clones over smart HTTP with the real git client:
// the right password clones, a wrong one is refused, pushes are refused.
func TestCloneWithBasicAuth(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "o", "r.git")
	work := t.TempDir()
	git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	git(t, work, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(work, "a.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "a.yaml")
	git(t, work, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "one")
	git(t, work, "push", "-q", bare, "main")
	srv, err := gitserver.New(root, func(repo, user, pass string) bool {
		return repo == "o/r.git" && user == "x-access-token" && pass == "s3cret"
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	u := strings.Replace(hs.URL, "http://", "http://x-access-token:s3cret@", 1) + "/o/r.git"
	dst := filepath.Join(t.TempDir(), "clone")
	git(t, root, "clone", "-q", u, dst)
	if b, err := os.ReadFile(filepath.Join(dst, "a.yaml")); err != nil || string(b) != "a: 1\n" {
		t.Fatalf("cloned file: %q %v", b, err)
	}
	if srv.UploadPackBytes() == 0 {
		t.Error("upload-pack bytes not counted")
	}
	bad := strings.Replace(hs.URL, "http://", "http://x-access-token:wrong@", 1) + "/o/r.git"
	cmd := exec.Command("git", "ls-remote", bad)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("ls-remote with a wrong password worked: %s", out)
	}
	cmd = exec.Command("git", "push", u, "main:refs/heads/evil")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("push was accepted: %s", out)
	}
}
