package source

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		escape   bool
	}{
		{"", ".", false},
		{"a/b/../c.yaml", "a/c.yaml", false},
		{"./a//b/", "a/b", false},
		{`a\b.yaml`, "a/b.yaml", false},
		{"../x", "", true},
		{"a/../../x", "", true},
		{"/etc/passwd", "", true},
		{"C:/Windows", "", true},
		{".git/config", "", true},
		{"a/.git/HEAD", "", true},
		{"a/.gitignore", "a/.gitignore", false},
		{"a\x00b", "", true},
	} {
		got, err := Clean(tc.in)
		if tc.escape {
			if !IsEscape(err) {
				t.Errorf("Clean(%q) = %q, %v; want an EscapeError", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Clean(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := Join("overlays/prod", "/abs"); !IsEscape(err) {
		t.Errorf("Join with an absolute ref: %v, want EscapeError", err)
	}
	if got, err := Join("overlays/prod", "../../base"); err != nil || got != "base" {
		t.Errorf("Join = %q, %v", got, err)
	}
}

// dirRepo is a work tree with the links a hostile change can commit.
func dirRepo(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	mk := func(rel, content string) {
		p := filepath.Join(d, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, rel string) {
		if err := os.Symlink(target, filepath.Join(d, rel)); err != nil {
			t.Fatal(err)
		}
	}
	mk("base/a.yaml", "a: 1\n")
	mk(".git/config", "[core]\n")
	mk("big.yaml", strings.Repeat("x", 2048))
	ln("base/a.yaml", "inside.yaml")
	ln("base", "alias")                       // directory link inside the root
	ln("/etc/passwd", "passwd")               // absolute, out of the root
	ln("../../../../../../etc/hosts", "up")   // relative, out of the root
	ln(".git", "gitdir")                      // into .git
	ln("loop-b", "loop-a")                    // a cycle
	ln("loop-a", "loop-b")                    //
	ln(filepath.Join(d, "base"), "absinside") // absolute, even if inside
	if err := syscall.Mkfifo(filepath.Join(d, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDirRefusesEscapes(t *testing.T) {
	d, err := OpenDir(dirRepo(t), 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name string
		want string // "" reads fine; "escape", "limit" or an error substring
	}{
		{"base/a.yaml", ""},
		{"inside.yaml", ""},
		{"alias/a.yaml", ""},
		{"passwd", "escape"},
		{"up", "escape"},
		{"gitdir/config", "escape"},
		{".git/config", "escape"},
		{"loop-a", "escape"},
		{"absinside/a.yaml", "escape"},
		{"../etc/passwd", "escape"},
		{"big.yaml", "limit"},
		{"fifo.yaml", "not a regular file"},
		{"base", "is a directory"},
		{"missing.yaml", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() { b, err = d.ReadFile(tc.name); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile hangs")
			}
			var le *LimitError
			switch {
			case tc.want == "":
				if err != nil || string(b) != "a: 1\n" {
					t.Errorf("ReadFile = %q, %v", b, err)
				}
			case tc.want == "escape":
				if !IsEscape(err) {
					t.Errorf("ReadFile err = %v, want EscapeError", err)
				}
			case tc.want == "limit":
				if !errors.As(err, &le) || !strings.Contains(err.Error(), "--max-file-size") {
					t.Errorf("ReadFile err = %v, want a LimitError naming --max-file-size", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("ReadFile err = %v, want %q", err, tc.want)
				}
			}
			// Stat and Open agree with ReadFile about escapes.
			if tc.want == "escape" {
				if _, err := d.Stat(tc.name); !IsEscape(err) {
					t.Errorf("Stat err = %v, want EscapeError", err)
				}
				if _, err := d.Open(tc.name); !IsEscape(err) {
					t.Errorf("Open err = %v, want EscapeError", err)
				}
			}
		})
	}
	ents, err := d.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == ".git" {
			t.Error("ReadDir lists .git")
		}
	}
}

// TestBlobHashIsGits: the content address is git's, so the work tree, the
// index and a commit agree on a file's hash without reading git objects.
func TestBlobHashIsGits(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	for _, content := range []string{"", "a: 1\n", strings.Repeat("é\x00\n", 1000)} {
		f := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("git", "hash-object", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := BlobHash([]byte(content)), strings.TrimSpace(string(out)); got != want {
			t.Errorf("BlobHash(%d bytes) = %s, git says %s", len(content), got, want)
		}
	}
}

func TestMemIsAnFS(t *testing.T) {
	m := NewMem("rev1", map[string]string{"base/a.yaml": "a\n", "overlays/prod/kustomization.yaml": "k\n"})
	// Lenient on spelling (kustomize passes "overlays/./prod"), strict on
	// escapes.
	if b, err := m.ReadFile("overlays/./prod//kustomization.yaml"); err != nil || string(b) != "k\n" {
		t.Errorf("Mem ReadFile non-canonical: %q, %v", b, err)
	}
	var walked []string
	if err := fs.WalkDir(m, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			walked = append(walked, p)
		}
		return err
	}); err != nil || strings.Join(walked, ",") != "base/a.yaml,overlays/prod/kustomization.yaml" {
		t.Errorf("WalkDir = %v, %v", walked, err)
	}
	if _, err := m.ReadFile("../x"); !IsEscape(err) {
		t.Errorf("Mem ReadFile ../x: %v, want EscapeError", err)
	}
	if _, err := m.ReadFile("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mem ReadFile nope: %v, want ErrNotExist", err)
	}
	if h, err := FileHash(m, "base/a.yaml"); err != nil || h != BlobHash([]byte("a\n")) {
		t.Errorf("FileHash = %s, %v", h, err)
	}
}
