package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/run"
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
	// limits bound what one run may cost (internal/run/limits.go).
	limits run.Limits
	// isolate renders each environment in a worker process (isolator).
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
			tuneGC(os.Getenv, cmd.Name() == "serve")
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
	pf.StringVar(&g.cacheDir, "cache-dir", os.Getenv("GATE_CACHE_DIR"), "cache directory: renders whose input files are unchanged, schema and policy verdicts per object, and the work tree's file hashes by stat are reused (env GATE_CACHE_DIR)")
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

// ws is the workspace of the flags (internal/run).
func (g *globals) ws() *run.Workspace {
	return &run.Workspace{Repo: g.repo, ConfigPath: g.configPath, MaxFile: g.maxFile, MaxFileSet: g.maxFileSet, CacheDir: g.cacheDir, Logger: g.log}
}

// openWorktree opens the work tree source and its gate.yaml.
func (g *globals) openWorktree() (*source.Dir, *config.Config, error) {
	w := g.ws()
	src, cfg, err := w.OpenWorktree()
	g.maxFile = w.MaxFile
	return src, cfg, err
}

func (g *globals) isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (g *globals) renderOptions() render.Options {
	var iso render.Isolator
	if g.isolate {
		iso = g.isolator()
	}
	return run.LocalRender(g.log, g.cacheDir, cacheSalt(), iso)
}

// cacheSalt identifies this build of gate (run.CacheSalt).
func cacheSalt() string { return run.CacheSalt(version) }

// printFindings prints findings on stderr, one a line, in their order.
func (g *globals) printFindings(finds []checks.Finding) {
	for _, f := range finds {
		fmt.Fprintln(g.stderr, escape.Terminal(f.String()))
	}
}

func usageErr(format string, args ...any) error {
	return &exitCodeError{code: exitError, err: fmt.Errorf(format, args...)}
}

// renderOptionsFor is renderOptions bounded by the limits of cfg and the
// flags.
func (g *globals) renderOptionsFor(cfg *config.Config) render.Options {
	return g.limits.RenderOptions(g.renderOptions(), cfg, g.log)
}

// workerCommand is the hidden subcommand a render worker runs as.
const workerCommand = "__render-worker"

// newWorkerCmd renders one environment for a parent gate (see
// internal/sandbox): a request on stdin, the result on stdout.
func newWorkerCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    workerCommand,
		Short:  "Render one environment for a parent gate process (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sandbox.Serve(cmd.Context(), cmd.InOrStdin(), g.stdout, g.stderr); err != nil {
				return &exitCodeError{code: exitError, err: err}
			}
			return nil
		},
	}
}

// isolator returns the render sandbox (run.Isolator) of this executable.
func (g *globals) isolator() render.Isolator {
	return run.Isolator([]string{workerCommand}, g.renderMemoryMiB, g.log)
}
