package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
)

// revFlags choose the revisions a run compares.
type revFlags struct {
	base        string
	head        string
	noMergeBase bool
	// staged checks the git index (what `git commit` would record) against HEAD.
	staged bool
	// changedFiles names a file listing the change's files ("-" is stdin).
	changedFiles string
	// allEnvs checks every environment even when the change is known.
	allEnvs bool
}

func addRevFlags(fs *pflag.FlagSet, r *revFlags, baseDefault, baseHelp string) {
	fs.StringVar(&r.base, "base", baseDefault, baseHelp)
	fs.StringVar(&r.head, "head", "", "check this commit (read from git, no checkout) instead of the work tree")
	fs.BoolVar(&r.noMergeBase, "no-merge-base", false, "compare against --base itself, not the merge-base of --base and the head (as a pull request does)")
	fs.BoolVar(&r.staged, "staged", false, "check the staged index (what git commit would record) against HEAD: the pre-commit hook")
	fs.StringVar(&r.changedFiles, "changed-files", "", "file listing the change's files, one per line, repo-relative (- for stdin): only the environments they touch are checked")
	fs.BoolVar(&r.allEnvs, "all-envs", false, "check every environment even when the change is known (default: only those it touches)")
}

// revs are the opened sources of a run.
type revs struct {
	head source.Source
	base source.Source // nil without --base
	// cfg is the trusted gate.yaml: the base's when there is a base.
	cfg *config.Config
	// baseDesc says how the base was chosen, for messages.
	baseDesc string
	// incremental is set when the change is known (a base, --staged or
	// --changed-files): only the environments it touches are checked.
	incremental bool
	// changed are the files of --changed-files (nil: compare base and head).
	changed []string
}

// openRevs opens the head (work tree or --head commit) and the base (the
// merge-base of --base and the head, read from the object store), and loads
// gate.yaml from the base: a pull request is judged by the configuration it
// is merged into, not by the one it brings.
func (g *globals) openRevs(r *revFlags) (*revs, error) {
	root, err := g.repoRoot()
	if err != nil {
		return nil, &exitCodeError{code: exitError, err: err}
	}
	out := &revs{}
	var repo *git.Repository
	var prefix string
	if r.base != "" || r.head != "" {
		repo, prefix, err = openGit(root)
		if err != nil {
			return nil, usageErr("%v", err)
		}
	}
	headRev := "HEAD"
	if r.staged {
		if r.head != "" {
			return nil, usageErr("--staged and --head: choose one")
		}
		if repo == nil {
			if repo, prefix, err = openGit(root); err != nil {
				return nil, usageErr("--staged: %v", err)
			}
		}
		idx, err := gitsrc.FromIndex(repo, g.maxFile)
		if err != nil {
			return nil, &exitCodeError{code: exitError, err: err}
		}
		out.head = gitsrc.Sub(idx, prefix)
		if r.base == "" {
			// The pre-commit hook compares with HEAD itself (no merge-base),
			// and a first commit has no base: every environment is new.
			if _, err := gitsrc.ResolveCommit(repo, "HEAD"); err == nil {
				r.base, r.noMergeBase = "HEAD", true
			}
		}
		headRev = "HEAD"
	} else if r.head != "" {
		headRev = r.head
		t, err := gitsrc.FromRev(repo, r.head, g.maxFile)
		if err != nil {
			return nil, usageErr("--head: %v", err)
		}
		out.head = gitsrc.Sub(t, prefix)
	} else {
		d, err := source.OpenDir(root, g.maxFile)
		if err != nil {
			return nil, &exitCodeError{code: exitError, err: err}
		}
		out.head = d
	}
	trusted := out.head
	if r.base != "" {
		c, err := gitsrc.ResolveCommit(repo, r.base)
		if err != nil {
			return nil, usageErr("--base: %v", err)
		}
		out.baseDesc = r.base
		if !r.noMergeBase {
			mb, err := gitsrc.MergeBase(repo, r.base, headRev)
			if err != nil {
				return nil, usageErr("--base: %v (use --no-merge-base to compare with %s itself)", err, r.base)
			}
			if mb.Hash != c.Hash {
				out.baseDesc = fmt.Sprintf("merge-base of %s and %s", r.base, headRev)
			}
			c = mb
		}
		t, err := gitsrc.FromCommit(repo, c, g.maxFile)
		if err != nil {
			return nil, &exitCodeError{code: exitError, err: err}
		}
		out.base = gitsrc.Sub(t, prefix)
		trusted = out.base
	}
	if n := g.configMaxFile(trusted); n != g.maxFile {
		// The trusted gate.yaml sets limits.maxFileSize: open again with it.
		g.maxFile = n
		return g.openRevs(r)
	}
	if r.changedFiles != "" {
		files, err := readChangedFiles(g, r.changedFiles)
		if err != nil {
			return nil, usageErr("--changed-files: %v", err)
		}
		out.changed = files
	}
	out.incremental = !r.allEnvs && (out.base != nil || out.changed != nil)
	cfg, err := g.loadConfig(trusted)
	if err != nil {
		if r.base != "" {
			return nil, &exitCodeError{code: exitError, err: fmt.Errorf("gate.yaml of the base (%s): %w", out.baseDesc, err)}
		}
		return nil, err
	}
	out.cfg = cfg
	return out, nil
}

// openGit opens the repository holding root and returns root's path inside it.
func openGit(root string) (*git.Repository, string, error) {
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

// gitPrefix is the ops repo's directory inside its git repository, with a
// trailing slash ("" at the top or outside git). SARIF and workflow
// annotations need it: both resolve paths from the repository root.
func (g *globals) gitPrefix(specs []outputSpec) string {
	need := false
	for _, s := range specs {
		need = need || s.format == "sarif" || s.format == "github"
	}
	if !need {
		return ""
	}
	root, err := g.repoRoot()
	if err != nil {
		return ""
	}
	if _, prefix, err := openGit(root); err == nil && prefix != "" {
		return prefix + "/"
	}
	return ""
}

// readChangedFiles reads a list of repo-relative paths, one per line, as
// `git diff --name-only` prints them.
func readChangedFiles(g *globals, name string) ([]string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(g.stdin, 64<<20))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	files := []string{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		c, err := source.Clean(l)
		if err != nil {
			return nil, err
		}
		files = append(files, c)
	}
	return files, nil
}
