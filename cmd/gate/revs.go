package main

import (
	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/internal/run"
)

// revFlags choose the revisions a run compares (run.Revisions);
// changedFiles names a file listing the change's files ("-" is stdin).
type revFlags struct {
	run.Revisions
	changedFiles string
}

func addRevFlags(fs *pflag.FlagSet, r *revFlags, baseDefault, baseHelp string) {
	fs.StringVar(&r.Base, "base", baseDefault, baseHelp)
	fs.StringVar(&r.Head, "head", "", "check this commit (read from git, no checkout) instead of the work tree")
	fs.BoolVar(&r.NoMergeBase, "no-merge-base", false, "compare against --base itself, not the merge-base of --base and the head (as a pull request does)")
	fs.BoolVar(&r.Staged, "staged", false, "check the staged index (what git commit would record) against HEAD: the pre-commit hook")
	fs.StringVar(&r.changedFiles, "changed-files", "", "file listing the change's files, one per line, repo-relative (- for stdin): only the environments they touch are checked")
	fs.BoolVar(&r.AllEnvs, "all-envs", false, "check every environment even when the change is known (default: only those it touches)")
}

// openRevs opens the revisions a run compares (internal/run): the head,
// the base read from the object store, and gate.yaml from the base.
func (g *globals) openRevs(r *revFlags) (*run.Opened, error) {
	rv := r.Revisions
	if r.changedFiles != "" {
		var err error
		if rv.Changed, err = run.ReadChangedFiles(g.stdin, r.changedFiles); err != nil {
			return nil, usageErr("--changed-files: %v", err)
		}
	}
	w := g.ws()
	o, err := w.Open(rv)
	g.maxFile = w.MaxFile
	return o, err
}
