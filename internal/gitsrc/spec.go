package gitsrc

import (
	"fmt"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/gate-ops/gate/checks/source"
)

// Spec implements source.Reopener for trees over an on-disk repository: the
// git directory and the commit (or the index).
func (t *Tree) Spec() (source.Spec, bool) {
	st, ok := t.repo.Storer.(*filesystem.Storage)
	if !ok {
		return source.Spec{}, false
	}
	dir, err := filepath.Abs(st.Filesystem().Root())
	if err != nil {
		return source.Spec{}, false
	}
	if t.rev == "index" {
		return source.Spec{Kind: "index", Path: dir, MaxFileSize: t.maxSize}, true
	}
	return source.Spec{Kind: "git", Path: dir, Commit: t.rev, MaxFileSize: t.maxSize}, true
}

// OpenSpec opens the tree a Spec of kind "git" or "index" names. The git
// directory is opened directly (bare or .git), never through a work tree.
func OpenSpec(s source.Spec) (*Tree, error) {
	repo, err := git.Open(filesystem.NewStorage(osfs.New(s.Path), cache.NewObjectLRUDefault()), nil)
	if err != nil {
		return nil, fmt.Errorf("open git directory %s: %w", s.Path, err)
	}
	switch s.Kind {
	case "git":
		return FromRev(repo, s.Commit, s.MaxFileSize)
	case "index":
		return FromIndex(repo, s.MaxFileSize)
	}
	return nil, fmt.Errorf("source kind %q is not a git tree", s.Kind)
}
