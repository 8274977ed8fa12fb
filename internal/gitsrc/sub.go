package gitsrc

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gate-ops/gate/checks/source"
)

// Sub is a Source rooted at a directory of a Tree: the ops repo inside a
// larger git repository (--repo deploy/ in a monorepo). Symlinks that
// resolve outside that directory are refused like links out of the repo:
// the rest of the monorepo is not the ops repo.
func Sub(t *Tree, prefix string) source.Source {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" || prefix == "." {
		return t
	}
	return &sub{inner: t, prefix: prefix}
}

type sub struct {
	inner  *Tree
	prefix string
}

// full maps a name of the ops repo to the tree, refusing links that leave
// the ops repo's directory.
func (p *sub) full(op, name string) (string, error) {
	c, err := source.Clean(name)
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	f := path.Join(p.prefix, c)
	if r, _, err := p.inner.resolve(f); err == nil && r != p.prefix && !strings.HasPrefix(r, p.prefix+"/") {
		return "", &fs.PathError{Op: op, Path: name, Err: &source.EscapeError{Path: name, Reason: fmt.Sprintf("symlink resolves to %s, outside the ops repo directory %s", r, p.prefix)}}
	}
	return f, nil
}

func (p *sub) ReadFile(name string) ([]byte, error) {
	f, err := p.full("read", name)
	if err != nil {
		return nil, err
	}
	return p.inner.ReadFile(f)
}

func (p *sub) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := p.full("readdir", name)
	if err != nil {
		return nil, err
	}
	return p.inner.ReadDir(f)
}

func (p *sub) Stat(name string) (fs.FileInfo, error) {
	f, err := p.full("stat", name)
	if err != nil {
		return nil, err
	}
	return p.inner.Stat(f)
}

func (p *sub) Open(name string) (fs.File, error) {
	f, err := p.full("open", name)
	if err != nil {
		return nil, err
	}
	return p.inner.Open(f)
}

func (p *sub) Rev() string { return p.inner.Rev() }

// ContentID is the tree's, narrowed to the ops repo's directory.
func (p *sub) ContentID() string {
	if id := p.inner.ContentID(); id != "" {
		return id + ":sub=" + p.prefix
	}
	return ""
}

// Resolve is Tree.Resolve relative to the ops repo's directory.
func (p *sub) Resolve(name string) (string, error) {
	f, err := p.full("resolve", name)
	if err != nil {
		return "", err
	}
	r, err := p.inner.Resolve(f)
	if err != nil {
		return "", err
	}
	if r == p.prefix {
		return ".", nil
	}
	return strings.TrimPrefix(r, p.prefix+"/"), nil
}

// Hash lets the engine compare revisions by blob hash.
func (p *sub) Hash(name string) (string, bool) {
	f, err := p.full("hash", name)
	if err != nil {
		return "", false
	}
	return p.inner.Hash(f)
}

// Paths lists the files under the prefix, relative to it.
func (p *sub) Paths() []string {
	var out []string
	for _, f := range p.inner.Paths() {
		if rel, ok := strings.CutPrefix(f, p.prefix+"/"); ok {
			out = append(out, rel)
		}
	}
	return out
}

// Spec implements source.Reopener.
func (p *sub) Spec() (source.Spec, bool) {
	s, ok := p.inner.Spec()
	s.Prefix = p.prefix
	return s, ok
}
