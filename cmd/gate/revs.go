package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/run"
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

// openRevs opens the revisions a run compares (internal/run): the head,
// the base read from the object store, and gate.yaml from the base.
func (g *globals) openRevs(r *revFlags) (*run.Opened, error) {
	root, err := g.repoRoot()
	if err != nil {
		return nil, err
	}
	var changed []string
	if r.changedFiles != "" {
		if changed, err = readChangedFiles(g, r.changedFiles); err != nil {
			return nil, usageErr("--changed-files: %v", err)
		}
	}
	o, err := run.Open(run.Revisions{Root: root, Base: r.base, NoMergeBase: r.noMergeBase, Head: r.head, Staged: r.staged,
		Changed: changed, AllEnvs: r.allEnvs, MaxFile: g.maxFile, MaxFileSet: g.maxFileSet, ConfigPath: g.configPath,
		Remotes: g.remoteURLs(), Logger: g.log})
	if err != nil {
		return nil, &exitCodeError{code: exitError, err: err}
	}
	g.maxFile = o.MaxFile
	return o, nil
}

// gitPrefix is the ops repo's directory inside its git repository, with a
// trailing slash ("" at the top or outside git). SARIF and workflow
// annotations need it: both resolve paths from the repository root.
func (g *globals) gitPrefix(specs []outputSpec) string {
	need := false
	for _, s := range specs {
		f, _ := g.formats.Lookup(s.format)
		need = need || f.RepoPaths
	}
	if !need {
		return ""
	}
	root, err := g.repoRoot()
	if err != nil {
		return ""
	}
	if _, prefix, err := run.OpenGit(root); err == nil && prefix != "" {
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
