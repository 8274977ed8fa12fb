package hostile

import (
	"context"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The guards must see what they are there to see; otherwise a passing
// corpus proves nothing. Each is driven into the thing it guards against.

func TestNetGuardSeesEveryAttempt(t *testing.T) {
	_ = guard.Events()
	c := &http.Client{Timeout: 2 * time.Second}
	// Through the proxy variables to the listener.
	if resp, err := c.Get("http://gate-hostile.example.com/x"); err == nil {
		resp.Body.Close()
	}
	// Straight to the listener (what a remote base pointing at it does).
	if conn, err := net.DialTimeout("tcp", guard.Addr, time.Second); err == nil {
		_, _ = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		conn.Close()
	}
	// A DNS lookup.
	_, _ = net.DefaultResolver.LookupHost(context.Background(), "exfil.gate-hostile.example.com")
	// A program kustomize would run.
	_ = exec.Command("git", "fetch", "https://github.com/example/repo").Run()
	// Wait for both connections to be read, so nothing arrives late in
	// another test's window.
	var ev string
	wants := []string{"connection from", "gate-hostile.example.com", "GET / HTTP/1.0", "dns", "exec git fetch"}
	for deadline := time.Now().Add(5 * time.Second); ; {
		ev += strings.Join(guard.Events(), "\n") + "\n"
		missing := ""
		for _, want := range wants {
			if !strings.Contains(ev, want) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the net guard missed %q; it saw:\n%s", missing, ev)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// permissiveFS is a Source that follows every symlink, to show the tracing
// check catches what a broken Source would let through.
type permissiveFS struct{ fs.FS }

func (p permissiveFS) ReadFile(name string) ([]byte, error) { return fs.ReadFile(p.FS, name) }
func (p permissiveFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return fs.ReadDir(p.FS, name)
}
func (p permissiveFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(p.FS, name) }
func (p permissiveFS) Rev() string                           { return "permissive" }

func TestTracingAndWatchSeeAnEscape(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	outside := filepath.Join(root, "outside")
	mustWrite(t, filepath.Join(outside, "secret.yaml"), canarySecret("outside"))
	mustWrite(t, filepath.Join(repo, ".git", "config"), "token\n")
	mustWrite(t, filepath.Join(repo, "ok.yaml"), "a: b\n")
	if err := os.Symlink("../outside/secret.yaml", filepath.Join(repo, "leak.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".git/config", filepath.Join(repo, "git.yaml")); err != nil {
		t.Fatal(err)
	}
	w, err := WatchOpens(outside, filepath.Join(repo, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	src := NewTracingSource(permissiveFS{os.DirFS(repo)})
	for _, p := range []string{"ok.yaml", "leak.yaml", "git.yaml"} {
		if _, err := src.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	v := strings.Join(src.Violations(repo), "\n")
	if !strings.Contains(v, `"leak.yaml" read`) || !strings.Contains(v, "outside the repo") || !strings.Contains(v, `"git.yaml" read`) || !strings.Contains(v, "inside .git") {
		t.Errorf("the tracing check missed the escapes:\n%s", v)
	}
	if strings.Contains(v, "ok.yaml") {
		t.Errorf("the tracing check flagged a file inside the repo:\n%s", v)
	}
	ev := strings.Join(w.Events(), "\n")
	if !strings.Contains(ev, "secret.yaml") || !strings.Contains(ev, "config") {
		t.Errorf("the open watch missed the reads outside the repo and in .git: %q", ev)
	}
}
