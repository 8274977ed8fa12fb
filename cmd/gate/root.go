package main

import (
	"github.com/gate-ops/gate/internal/run"

	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/sandbox"
)

type fileWriter = io.Writer

// globals are the flags every command shares.
type globals struct {
	repo       string
	configPath string
	verbose    bool
	noColor    bool
	maxFile    int64
	// maxFileSet is true when --max-file-size was given: it wins over
	// gate.yaml limits.maxFileSize.
	maxFileSet bool
	stdout     io.Writer
	stderr     io.Writer
	stdin      io.Reader
	// cacheDir holds the render cache ("" disables it).
	cacheDir string
	// limits bound what one run may cost (limits.go).
	limits run.Limits
	// isolate renders each environment in a worker process (isolate.go).
	isolate bool
	// renderMemoryMiB is each render worker's memory budget.
	renderMemoryMiB int
	log             *slog.Logger
	// formats are the report formats --output accepts and writes.
	formats report.Registry
}

func newRootCmd(stdout, stderr io.Writer, formats report.Registry) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, formats: formats}
	root := &cobra.Command{
		Use:   "gate",
		Short: "Policy and validation gate for GitOps ops repos",
		Long: `gate renders every environment of an ops repo (kustomize, Helm, plain YAML),
validates the result against Kubernetes schemas, evaluates Rego policies, diffs
it against the base branch and the live clusters, and fails the change when it
is not safe to merge.

Exit codes: 0 pass, 1 findings fail the gate, 2 usage or internal error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.stdin = cmd.InOrStdin()
			g.maxFileSet = cmd.Flags().Changed("max-file-size")
			level := slog.LevelWarn
			if g.verbose {
				level = slog.LevelDebug
			}
			g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			if os.Getenv("NO_COLOR") != "" {
				g.noColor = true
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.repo, "repo", "", "ops repo root (default: the git top-level of the current directory)")
	pf.StringVar(&g.configPath, "config", "", "gate.yaml path, relative to the repo root (default gate.yaml)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logs on stderr")
	pf.BoolVar(&g.noColor, "no-color", false, "no colour in text output (also NO_COLOR)")
	pf.Int64Var(&g.maxFile, "max-file-size", source.DefaultMaxFileSize, "largest file gate reads, in bytes")
	addLimitFlags(pf, &g.limits)
	pf.StringVar(&g.cacheDir, "cache-dir", os.Getenv("GATE_CACHE_DIR"), "render cache directory: renders whose input files are unchanged are reused (env GATE_CACHE_DIR)")
	pf.BoolVar(&g.isolate, "isolate", false, "render each environment in a worker process killed at the render deadline or past --render-memory (on by default in gate serve)")
	pf.IntVar(&g.renderMemoryMiB, "render-memory", sandbox.DefaultMemory>>20, "memory budget of each isolated render, in MiB")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitCodeError{code: exitError, err: err}
	})
	root.AddCommand(
		newEnvsCmd(g),
		newRenderCmd(g),
		newVersionCmd(g),
		newConfigCmd(g),
		newBaselineCmd(g),
		newChartsCmd(g),
		newCheckCmd(g),
		newDiffCmd(g),
		newInitCmd(g),
		newWorkerCmd(g),
		newLiveCmd(g),
		newReportCmd(g),
		newPolicyCmd(g),
		newServeCmd(g),
		newValidateCmd(g),
	)
	enableProfiling(root)
	return root
}

// repoRoot resolves --repo or the git top-level of the working directory.
func (g *globals) repoRoot() (string, error) {
	if g.repo != "" {
		return filepath.Abs(g.repo)
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
	return "", usageErr("%s is not inside a git repository: run gate in the clone of your ops repo, or name the directory with --repo DIR", wd)
}

// openWorktree opens the work tree source and its gate.yaml.
func (g *globals) openWorktree() (*source.Dir, *config.Config, error) {
	root, err := g.repoRoot()
	if err != nil {
		return nil, nil, &exitCodeError{code: exitError, err: err}
	}
	src, err := source.OpenDir(root, g.maxFile)
	if err != nil {
		return nil, nil, &exitCodeError{code: exitError, err: err}
	}
	cfg, err := g.loadConfig(src)
	if err != nil {
		return nil, nil, err
	}
	if n := run.MaxFileSize(src, g.configPath, g.maxFile, g.maxFileSet, g.log); n != g.maxFile {
		// gate.yaml sets limits.maxFileSize: open again with it.
		_ = src.Close()
		g.maxFile = n
		return g.openWorktree()
	}
	return src, cfg, nil
}

func (g *globals) loadConfig(src source.Source) (*config.Config, error) {
	cfg, _, err := config.Load(src, g.configPath)
	if err != nil {
		return nil, &exitCodeError{code: exitError, err: err}
	}
	cfg.Remotes = g.remoteURLs()
	return cfg, nil
}

// remoteURLs are the git remotes of the checkout: a Flux GitRepository or
// Argo CD Application naming one of them is this repository. Best effort:
// outside a git repository there are none (gate.yaml repository.urls and
// Flux's flux-system convention still apply).
func (g *globals) remoteURLs() []string {
	root, err := g.repoRoot()
	if err != nil {
		return nil
	}
	repo, err := gitsrc.Open(root)
	if err != nil {
		return nil
	}
	urls, err := gitsrc.RemoteURLs(repo)
	if err != nil {
		g.log.Debug("git remotes not read", "err", err)
	}
	return urls
}

func (g *globals) isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (g *globals) renderOptions() render.Options {
	opts := render.Options{Logger: g.log}
	if g.isolate {
		opts.Isolate = g.isolator()
	}
	// Charts not in the repo render from the chart cache (filled by
	// gate charts pull); the engine never fetches them.
	opts.Charts = charts.Open(g.chartCacheDir())
	if g.cacheDir != "" {
		c, err := render.OpenCache(g.cacheDir, cacheSalt())
		if err != nil {
			g.log.Warn("render cache disabled", "err", err)
		} else {
			opts.Cache = c
		}
	}
	return opts
}

// cacheSalt identifies this build of gate, so a cache never serves a
// render made by a different renderer: the version, the VCS revision, and
// for development builds the executable's size and time.
func cacheSalt() string {
	salt := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				salt += "/" + s.Value
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "sigs.k8s.io/kustomize/api" || d.Path == "helm.sh/helm/v4" {
				salt += "/" + d.Version
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			salt += fmt.Sprintf("/%d-%d", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return salt
}

func usageErr(format string, args ...any) error {
	return &exitCodeError{code: exitError, err: fmt.Errorf(format, args...)}
}
