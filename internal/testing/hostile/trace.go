package hostile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gate-ops/gate/checks/source"
)

// Access is one call the engine made on a Source.
type Access struct {
	Op   string // open, read, readdir, stat
	Name string
	Err  error
}

// TracingSource wraps a Source and records every access, so a test can
// prove what the renderer, the schema and the policy stages read: nothing
// outside the repo root, nothing under .git.
type TracingSource struct {
	source.Source
	mu  sync.Mutex
	log []Access
}

// NewTracingSource wraps src.
func NewTracingSource(src source.Source) *TracingSource { return &TracingSource{Source: src} }

func (t *TracingSource) add(op, name string, err error) {
	t.mu.Lock()
	t.log = append(t.log, Access{Op: op, Name: name, Err: err})
	t.mu.Unlock()
}

// Open implements fs.FS.
func (t *TracingSource) Open(name string) (fs.File, error) {
	f, err := t.Source.Open(name)
	t.add("open", name, err)
	return f, err
}

// ReadFile implements fs.ReadFileFS.
func (t *TracingSource) ReadFile(name string) ([]byte, error) {
	b, err := t.Source.ReadFile(name)
	t.add("read", name, err)
	return b, err
}

// ReadDir implements fs.ReadDirFS.
func (t *TracingSource) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.Source.ReadDir(name)
	t.add("readdir", name, err)
	return e, err
}

// Stat implements fs.StatFS.
func (t *TracingSource) Stat(name string) (fs.FileInfo, error) {
	fi, err := t.Source.Stat(name)
	t.add("stat", name, err)
	return fi, err
}

// Accesses returns a copy of the log.
func (t *TracingSource) Accesses() []Access {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Access(nil), t.log...)
}

// Violations checks every successful access against the repo on disk at
// root: the name must be a clean repo-relative path outside .git, and what
// it resolves to on disk (symlinks followed) must be inside root and
// outside root/.git. Refused accesses are fine: refusing is the point.
func (t *TracingSource) Violations(root string) []string {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return []string{fmt.Sprintf("resolve repo root: %v", err)}
	}
	gitDir := filepath.Join(realRoot, ".git")
	var out []string
	for _, a := range t.Accesses() {
		if a.Err != nil {
			continue
		}
		c, err := source.Clean(a.Name)
		if err != nil {
			out = append(out, fmt.Sprintf("%s %q succeeded although the path is refused: %v", a.Op, a.Name, err))
			continue
		}
		real, err := filepath.EvalSymlinks(filepath.Join(realRoot, filepath.FromSlash(c)))
		if err != nil {
			out = append(out, fmt.Sprintf("%s %q succeeded but does not resolve on disk: %v", a.Op, a.Name, err))
			continue
		}
		if !within(real, realRoot) {
			out = append(out, fmt.Sprintf("%s %q read %s, outside the repo", a.Op, a.Name, real))
		}
		if within(real, gitDir) {
			out = append(out, fmt.Sprintf("%s %q read %s, inside .git", a.Op, a.Name, real))
		}
	}
	return out
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+string(os.PathSeparator))
}

// Resolve forwards to the wrapped Source's Resolve, when it has one, so
// the renderer sees the same Source it would see unwrapped.
func (t *TracingSource) Resolve(name string) (string, error) {
	r, ok := t.Source.(interface{ Resolve(string) (string, error) })
	if !ok {
		return name, nil
	}
	c, err := r.Resolve(name)
	t.add("resolve", name, err)
	return c, err
}
