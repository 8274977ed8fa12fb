package run

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
)

// usage is an error in what the caller asked (a revision that does not
// resolve, two options that exclude each other). The CLI exits 2 on it
// as on any other error (cmd/gate main.go), so it is a plain error.
func usage(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// Revisions say which revisions a run compares.
type Revisions struct {
	// Root is the ops repo's directory (the work tree).
	Root string
	// Base is the revision to compare with ("" for none); by default the
	// merge-base of Base and the head, as a pull request compares.
	Base        string
	NoMergeBase bool
	// Head is a commit to check instead of the work tree.
	Head string
	// Staged checks the git index (what `git commit` would record)
	// against HEAD: the pre-commit hook.
	Staged bool
	// Changed lists the change's files when the caller knows them (nil:
	// compare base and head).
	Changed []string
	// AllEnvs checks every environment even when the change is known.
	AllEnvs bool
	// MaxFile is the largest file read; MaxFileSet says the user chose it,
	// so it wins over the trusted gate.yaml's limits.maxFileSize.
	MaxFile    int64
	MaxFileSet bool
	// ConfigPath is gate.yaml's path in the repo ("" for gate.yaml).
	ConfigPath string
	// Remotes are this repository's git URLs (Flux and Argo CD sources
	// naming one of them are this repository).
	Remotes []string
	Logger  *slog.Logger
}

// Opened are the opened sources of a run.
type Opened struct {
	Head source.Source
	Base source.Source // nil without a base
	// Trusted is where gate.yaml and policies come from: the base when
	// there is one, else the head.
	Trusted source.Source
	// Config is the trusted gate.yaml.
	Config *config.Config
	// BaseDesc says how the base was chosen, for messages.
	BaseDesc string
	// Incremental is set when the change is known (a base, Staged or
	// Changed): only the environments it touches are checked.
	Incremental bool
	Changed     []string
	// MaxFile is the file size limit the sources were opened with.
	MaxFile int64
}

// Open opens the head (work tree, index or Head commit) and the base (read
// from the object store, never checked out), and loads gate.yaml from the
// base: a pull request is judged by the configuration it is merged into,
// not by the one it brings.
func Open(r Revisions) (*Opened, error) {
	out := &Opened{MaxFile: r.MaxFile}
	var repo *git.Repository
	var prefix string
	var err error
	if r.Base != "" || r.Head != "" || r.Staged {
		repo, prefix, err = OpenGit(r.Root)
		if err != nil {
			if r.Staged {
				return nil, usage("--staged: %v", err)
			}
			return nil, usage("%v", err)
		}
	}
	headRev := "HEAD"
	switch {
	case r.Staged:
		if r.Head != "" {
			return nil, usage("--staged and --head: choose one")
		}
		idx, err := gitsrc.FromIndex(repo, r.MaxFile)
		if err != nil {
			return nil, err
		}
		out.Head = gitsrc.Sub(idx, prefix)
		if r.Base == "" {
			// The pre-commit hook compares with HEAD itself (no merge-base),
			// and a first commit has no base: every environment is new.
			if _, err := gitsrc.ResolveCommit(repo, "HEAD"); err == nil {
				r.Base, r.NoMergeBase = "HEAD", true
			}
		}
	case r.Head != "":
		headRev = r.Head
		t, err := gitsrc.FromRev(repo, r.Head, r.MaxFile)
		if err != nil {
			return nil, usage("--head: %v", err)
		}
		out.Head = gitsrc.Sub(t, prefix)
	default:
		d, err := source.OpenDir(r.Root, r.MaxFile)
		if err != nil {
			return nil, err
		}
		out.Head = d
	}
	out.Trusted = out.Head
	if r.Base != "" {
		c, err := gitsrc.ResolveCommit(repo, r.Base)
		if err != nil {
			return nil, usage("--base: %v", err)
		}
		out.BaseDesc = r.Base
		if !r.NoMergeBase {
			mb, err := gitsrc.MergeBase(repo, r.Base, headRev)
			if err != nil {
				return nil, usage("--base: %v (use --no-merge-base to compare with %s itself)", err, r.Base)
			}
			if mb.Hash != c.Hash {
				out.BaseDesc = fmt.Sprintf("merge-base of %s and %s", r.Base, headRev)
			}
			c = mb
		}
		t, err := gitsrc.FromCommit(repo, c, r.MaxFile)
		if err != nil {
			return nil, err
		}
		out.Base = gitsrc.Sub(t, prefix)
		out.Trusted = out.Base
	}
	if n := MaxFileSize(out.Trusted, r.ConfigPath, r.MaxFile, r.MaxFileSet, r.Logger); n != r.MaxFile {
		// The trusted gate.yaml sets limits.maxFileSize: open again with it.
		r.MaxFile = n
		return Open(r)
	}
	out.Changed = r.Changed
	out.Incremental = !r.AllEnvs && (out.Base != nil || out.Changed != nil)
	cfg, _, err := config.Load(out.Trusted, r.ConfigPath)
	if err != nil {
		if out.Base != nil {
			return nil, fmt.Errorf("gate.yaml of the base (%s): %w", out.BaseDesc, err)
		}
		return nil, err
	}
	cfg.Remotes = r.Remotes
	out.Config = cfg
	return out, nil
}

// OpenGit opens the repository holding root and returns root's path
// inside it ("" at the top).
func OpenGit(root string) (*git.Repository, string, error) {
	repo, err := gitsrc.Open(root)
	if err != nil {
		return nil, "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return repo, "", nil // bare repository: root is the top
	}
	top, err1 := filepath.EvalSymlinks(wt.Filesystem.Root())
	abs, err2 := filepath.EvalSymlinks(root)
	if err1 != nil || err2 != nil {
		return repo, "", nil
	}
	rel, err := filepath.Rel(top, abs)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return repo, "", nil
	}
	return repo, filepath.ToSlash(rel), nil
}
