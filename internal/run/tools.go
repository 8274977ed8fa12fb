package run

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/chartpull"
)

// WritePull writes what gate charts pull did for each of n chart
// references, and returns how many could not be pulled.
func WritePull(w io.Writer, res []chartpull.Result, n int, dir string) (failed int) {
	for _, r := range res {
		where := r.Want.File
		if r.Want.Line > 0 {
			where = fmt.Sprintf("%s:%d", r.Want.File, r.Want.Line)
		}
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(w, "error   %s: %s\n", where, r.Err)
		case r.Fetched:
			fmt.Fprintf(w, "pulled  %s: %s %s %s (%s)\n", where, r.Want.Ref.Repo, r.Want.Ref.Chart, r.Version, r.Digest)
		default:
			fmt.Fprintf(w, "cached  %s: %s %s %s (%s)\n", where, r.Want.Ref.Repo, r.Want.Ref.Chart, r.Version, r.Digest)
		}
	}
	fmt.Fprintf(w, "%d chart references, %d not pulled; cache %s\n", n, failed, dir)
	return failed
}

// PolicyTestDirs opens what gate policy test names on its command line:
// policy directories and OPA bundle archives (read from their directory).
func PolicyTestDirs(args []string, maxFile int64) ([]policy.TestDir, error) {
	var dirs []policy.TestDir
	for _, a := range args {
		if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() && policy.IsBundle(a) {
			parent := filepath.Dir(a)
			src, err := source.OpenDir(parent, maxFile)
			if err != nil {
				return nil, usage("%s: %v", a, err)
			}
			dirs = append(dirs, policy.TestDir{Src: src, Dir: filepath.Base(a), Prefix: filepath.ToSlash(parent)})
			continue
		}
		src, err := source.OpenDir(a, maxFile)
		if err != nil {
			return nil, usage("%s: %v", a, err)
		}
		dirs = append(dirs, policy.TestDir{Src: src, Dir: ".", Prefix: filepath.ToSlash(filepath.Clean(a))})
	}
	return dirs, nil
}

// PolicyTestData opens gate policy test's --data files and directories.
func PolicyTestData(data []string, maxFile int64) ([]policy.TestDir, error) {
	var out []policy.TestDir
	for _, a := range data {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, usage("--data %s: %v", a, err)
		}
		d := policy.TestDir{Dir: ".", Prefix: filepath.ToSlash(filepath.Clean(a))}
		root := a
		if !fi.IsDir() {
			root, d.Dir, d.Prefix = filepath.Dir(a), filepath.Base(a), filepath.ToSlash(filepath.Dir(a))
		}
		if d.Src, err = source.OpenDir(root, maxFile); err != nil {
			return nil, usage("--data %s: %v", a, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// RepoPolicyTests adds the ops repo's own policy tests to opts and dirs
// (gate policy test without a directory): its policy directories, with
// gate.yaml's policies.data and policies.strict.
func RepoPolicyTests(src source.Source, cfg *config.Config, dirs []policy.TestDir, opts *policy.TestOptions) []policy.TestDir {
	for _, d := range policy.PolicyDirs(src, cfg) {
		dirs = append(dirs, policy.TestDir{Src: src, Dir: d})
	}
	for _, d := range cfg.Policies.Data {
		opts.Data = append(opts.Data, policy.TestDir{Src: src, Dir: d})
	}
	opts.NoStrict = !cfg.Policies.StrictRego()
	return dirs
}

// ReadChangedFiles reads a list of repo-relative paths, one per line, as
// `git diff --name-only` prints them, from the file name ("-" for stdin).
func ReadChangedFiles(stdin io.Reader, name string) ([]string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<20))
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

// Rules are the rules gate check evaluates in the ops repo (gate policy
// list): the built-in library, the repo's conftest packages and Gatekeeper
// constraints, and extra policy directories. finds are the policies'
// problems (one that does not compile).
func Rules(ctx context.Context, src source.Source, cfg *config.Config, dirs []string, maxFile int64) ([]policy.RuleInfo, []checks.Finding, error) {
	pd, err := PolicyDirs(dirs, maxFile)
	if err != nil {
		return nil, nil, err
	}
	st, finds := policy.Load(ctx, src, cfg, policy.Options{Dirs: pd, DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	return st.Rules(), finds, nil
}

// WriteRules writes rules, one a line: id, default severity, title.
func WriteRules(w io.Writer, rules []policy.RuleInfo) {
	for _, r := range rules {
		fmt.Fprintf(w, "%-34s %-8s %s\n", escape.Terminal(r.ID), r.Severity, escape.Terminal(r.Title))
	}
}

// WriteJSON writes v as indented JSON (the -o json of envs, render and
// policy).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// PullCharts is gate charts pull: the chart references of the work tree,
// or of the commit base names (what CI passes, so a pull request cannot
// choose what is downloaded), or the one chart ref names, fetched into the
// chart cache in cacheDir as that revision's gate.yaml allows. What each
// did is written to out; ok says every chart is cached.
func (w *Workspace) PullCharts(ctx context.Context, out io.Writer, base string, ref *charts.Ref, cacheDir string) (ok bool, err error) {
	var src source.Source
	var cfg *config.Config
	if base == "" {
		src, cfg, err = w.OpenWorktree()
	} else {
		src, cfg, err = w.RevisionTree(base)
	}
	if err != nil {
		return false, err
	}
	var wants []chartpull.Want
	if ref != nil {
		wants = []chartpull.Want{{Ref: *ref, File: "(command line)"}}
	} else if wants, err = chartpull.Scan(src); err != nil {
		return false, err
	}
	cache := charts.Open(ChartCacheDir(cacheDir))
	res := chartpull.New(cache, cfg, w.Logger).Pull(ctx, wants)
	return WritePull(out, res, len(wants), cache.Dir()) == 0, nil
}

// PolicyTests are the policy directories gate policy test runs: those
// args names (directories and bundles), else the repo's own with
// gate.yaml's policies.data and policies.strict; data (--data) is loaded
// under data.
func (w *Workspace) PolicyTests(args, data []string, opts *policy.TestOptions) ([]policy.TestDir, error) {
	dirs, err := PolicyTestDirs(args, w.MaxFile)
	if err != nil {
		return nil, err
	}
	if opts.Data, err = PolicyTestData(data, w.MaxFile); err != nil {
		return nil, err
	}
	if len(args) > 0 {
		return dirs, nil
	}
	src, cfg, err := w.OpenWorktree()
	if err != nil {
		return nil, err
	}
	dirs = RepoPolicyTests(src, cfg, dirs, opts)
	if len(dirs) == 0 && !opts.Builtin {
		return nil, usage("no policy directory: create policy/ (or set policies.paths in gate.yaml), name one, or use --builtin")
	}
	return dirs, nil
}
