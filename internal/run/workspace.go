package run

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/sandbox"
)

// Workspace is where a command of the CLI runs: the ops repo (Repo, else
// the git top-level of the working directory), gate.yaml's path in it and
// the largest file gate reads.
type Workspace struct {
	Repo       string
	ConfigPath string
	// MaxFile is the largest file read; MaxFileSet says the user chose it,
	// so it wins over gate.yaml's limits.maxFileSize. Opening a tree whose
	// gate.yaml sets that limit updates MaxFile.
	MaxFile    int64
	MaxFileSet bool
	// CacheDir is --cache-dir ("" for none): the work tree's hash index
	// lives there too (source.HashIndex).
	CacheDir string
	Logger   *slog.Logger
}

// Root resolves Repo or the git top-level of the working directory.
func (w *Workspace) Root() (string, error) {
	if w.Repo != "" {
		return filepath.Abs(w.Repo)
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	// Scanning the working directory would walk whatever lies below it
	// (other checkouts, a home directory) and call it environments.
	return "", usage("%s is not inside a git repository: run gate in the clone of your ops repo, or name the directory with --repo DIR", wd)
}

// OpenWorktree opens the work tree source and its gate.yaml.
func (w *Workspace) OpenWorktree() (*source.Dir, *config.Config, error) {
	root, err := w.Root()
	if err != nil {
		return nil, nil, err
	}
	src, err := source.OpenDir(root, w.MaxFile)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := w.LoadConfig(src)
	if err != nil {
		return nil, nil, err
	}
	if n := MaxFileSize(src, w.ConfigPath, w.MaxFile, w.MaxFileSet, w.Logger); n != w.MaxFile {
		// gate.yaml sets limits.maxFileSize: open again with it.
		_ = src.Close()
		w.MaxFile = n
		return w.OpenWorktree()
	}
	return src, cfg, nil
}

// LoadConfig reads gate.yaml from src, with this checkout's remotes.
func (w *Workspace) LoadConfig(src source.Source) (*config.Config, error) {
	cfg, _, err := config.Load(src, w.ConfigPath)
	if err != nil {
		return nil, err
	}
	cfg.Remotes = w.RemoteURLs()
	return cfg, nil
}

// RemoteURLs are the git remotes of the checkout: a Flux GitRepository or
// Argo CD Application naming one of them is this repository. Best effort:
// outside a git repository there are none (gate.yaml repository.urls and
// Flux's flux-system convention still apply).
func (w *Workspace) RemoteURLs() []string {
	root, err := w.Root()
	if err != nil {
		return nil
	}
	repo, err := gitsrc.Open(root)
	if err != nil {
		return nil
	}
	urls, err := gitsrc.RemoteURLs(repo)
	if err != nil {
		w.Logger.Debug("git remotes not read", "err", err)
	}
	return urls
}

// Open opens the revisions r names in this workspace (Open): r's root,
// file size, gate.yaml path and remotes come from the workspace.
func (w *Workspace) Open(r Revisions) (*Opened, error) {
	root, err := w.Root()
	if err != nil {
		return nil, err
	}
	r.Root, r.MaxFile, r.MaxFileSet, r.ConfigPath, r.Remotes, r.Logger = root, w.MaxFile, w.MaxFileSet, w.ConfigPath, w.RemoteURLs(), w.Logger
	o, err := Open(r)
	if err != nil {
		return nil, err
	}
	w.MaxFile = o.MaxFile
	if d, ok := o.Head.(*source.Dir); ok && w.CacheDir != "" {
		d.UseHashIndex(source.OpenHashIndex(hashIndexPath(w.CacheDir, root)))
	}
	return o, nil
}

// hashIndexPath is where the hash index of the work tree at root lives in
// cacheDir: one per checkout.
func hashIndexPath(cacheDir, root string) string {
	sum := sha256.Sum256([]byte(root))
	name := "w-" + hex.EncodeToString(sum[:16])
	return filepath.Join(cacheDir, name[:2], name+".json")
}

// RevisionTree opens the tree of one commit (the ops repo's directory in
// it) and its gate.yaml: what gate charts pull --base reads.
func (w *Workspace) RevisionTree(rev string) (source.Source, *config.Config, error) {
	root, err := w.Root()
	if err != nil {
		return nil, nil, err
	}
	repo, prefix, err := OpenGit(root)
	if err != nil {
		return nil, nil, usage("%v", err)
	}
	c, err := gitsrc.ResolveCommit(repo, rev)
	if err != nil {
		return nil, nil, usage("--base: %v", err)
	}
	t, err := gitsrc.FromCommit(repo, c, w.MaxFile)
	if err != nil {
		return nil, nil, err
	}
	src := gitsrc.Sub(t, prefix)
	cfg, err := w.LoadConfig(src)
	if err != nil {
		return nil, nil, err
	}
	return src, cfg, nil
}

// GitPrefix is the ops repo's directory inside its git repository, with a
// trailing slash ("" at the top or outside git), when one of the outputs
// needs it: SARIF and workflow annotations resolve paths from the
// repository root.
func (w *Workspace) GitPrefix(formats report.Registry, outs []Output) string {
	need := false
	for _, o := range outs {
		f, _ := formats.Lookup(o.Format)
		need = need || f.RepoPaths
	}
	if !need {
		return ""
	}
	root, err := w.Root()
	if err != nil {
		return ""
	}
	if _, prefix, err := OpenGit(root); err == nil && prefix != "" {
		return prefix + "/"
	}
	return ""
}

// ChartCacheDir is where charts are cached: cacheDir (--cache-dir,
// GATE_CACHE_DIR), else the user cache directory's gate/ (what gate serve
// uses too).
func ChartCacheDir(cacheDir string) string {
	if cacheDir != "" {
		return cacheDir
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gate")
}

// LocalRender are the render options of a CLI run: charts not in the repo
// render from the chart cache (filled by gate charts pull; the engine never
// fetches them), renders are reused from the render cache in cacheDir (""
// for none) made by the same build (salt), and iso, when not nil, renders
// each environment in a worker process.
func LocalRender(log *slog.Logger, cacheDir, salt string, iso render.Isolator) render.Options {
	opts := render.Options{Logger: log, Isolate: iso, Charts: charts.Open(ChartCacheDir(cacheDir))}
	if cacheDir != "" {
		c, err := render.OpenCache(cacheDir, salt)
		if err != nil {
			log.Warn("render cache disabled", "err", err)
		} else {
			opts.Cache = c
		}
	}
	return opts
}

// Isolator returns the render sandbox: each environment rendered by a
// worker process of this same executable (run with args), killed at the
// render deadline or past memoryMiB. nil when the executable cannot be
// found (rendering then stays in process, with a warning).
func Isolator(args []string, memoryMiB int, log *slog.Logger) render.Isolator {
	exe, err := os.Executable()
	if err != nil {
		log.Warn("render isolation off: cannot find gate's executable", "err", err)
		return nil
	}
	return &sandbox.Runner{Command: append([]string{exe}, args...), Memory: int64(memoryMiB) << 20, Logger: log}
}
