package main

import (
	"github.com/gate-ops/gate/internal/run"

	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/chartpull"
	"github.com/gate-ops/gate/internal/gitsrc"
)

// chartCacheDir is where charts are cached: --cache-dir (GATE_CACHE_DIR),
// else the user cache directory's gate/ (what `gate serve` uses too).
func (g *globals) chartCacheDir() string {
	if g.cacheDir != "" {
		return g.cacheDir
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gate")
}

func newChartsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "charts",
		Short: "Charts that are not in the repo: fill the chart cache",
		Long: `Charts from Helm repositories and OCI registries (Flux HelmRepository,
OCIRepository and HelmRelease, Argo CD Application chart + repoURL, kustomize
helmCharts with repo:) render from gate's chart cache. gate check, render and diff
never touch the network: a chart missing from the cache is a
render/chart-not-cached finding naming the command that fetches it.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newChartsPullCmd(g))
	return cmd
}

func newChartsPullCmd(g *globals) *cobra.Command {
	var base, url, chart, version string
	cmd := &cobra.Command{
		Use:   "pull",
		Short: "Fetch the charts the repo references into the chart cache",
		Long: `gate charts pull reads the chart references of the repo (the work tree, or the
commit --base names: what CI should pass, so a pull request cannot choose what is
downloaded) and fetches each chart version they resolve to into the chart cache
under --cache-dir (default: the user cache directory's gate/). Only repositories
listed in charts.allow of that revision's gate.yaml are contacted, through
charts.mirrors. --url, --chart and --version pull one chart (the command a
render/chart-not-cached finding prints); charts.allow still applies.

Exit codes: 0 every chart is cached, 1 some could not be pulled, 2 usage error.`,
		Example: `  gate charts pull --base origin/main
  gate charts pull --url https://stefanprodan.github.io/podinfo --chart podinfo --version 6.x`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (url == "") != (chart == "") {
				return usageErr("--url and --chart go together")
			}
			src, cfg, err := g.chartsSource(base)
			if err != nil {
				return err
			}
			var wants []chartpull.Want
			if url != "" {
				wants = []chartpull.Want{{Ref: charts.Ref{Repo: url, Chart: chart, Version: version}, File: "(command line)"}}
			} else {
				if wants, err = chartpull.Scan(src); err != nil {
					return &exitCodeError{code: exitError, err: err}
				}
			}
			cache := charts.Open(g.chartCacheDir())
			res := chartpull.New(cache, cfg, g.log).Pull(cmd.Context(), wants)
			return reportPull(g, res, len(wants), cache.Dir())
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "read the chart references and gate.yaml from this commit instead of the work tree")
	cmd.Flags().StringVar(&url, "url", "", "pull one chart from this repository URL (https://... or oci://...)")
	cmd.Flags().StringVar(&chart, "chart", "", "the chart name, with --url")
	cmd.Flags().StringVar(&version, "version", "", "the version or semver range, with --url (default: the latest)")
	return cmd
}

// chartsSource opens the revision whose references and gate.yaml decide
// what is pulled.
func (g *globals) chartsSource(base string) (source.Source, *config.Config, error) {
	if base == "" {
		src, cfg, err := g.openWorktree()
		if err != nil {
			return nil, nil, err
		}
		return src, cfg, nil
	}
	root, err := g.repoRoot()
	if err != nil {
		return nil, nil, &exitCodeError{code: exitError, err: err}
	}
	repo, prefix, err := run.OpenGit(root)
	if err != nil {
		return nil, nil, usageErr("%v", err)
	}
	c, err := gitsrc.ResolveCommit(repo, base)
	if err != nil {
		return nil, nil, usageErr("--base: %v", err)
	}
	t, err := gitsrc.FromCommit(repo, c, g.maxFile)
	if err != nil {
		return nil, nil, &exitCodeError{code: exitError, err: err}
	}
	src := gitsrc.Sub(t, prefix)
	cfg, err := g.loadConfig(src)
	if err != nil {
		return nil, nil, err
	}
	return src, cfg, nil
}

func reportPull(g *globals, res []chartpull.Result, n int, dir string) error {
	failed := 0
	for _, r := range res {
		where := r.Want.File
		if r.Want.Line > 0 {
			where = fmt.Sprintf("%s:%d", r.Want.File, r.Want.Line)
		}
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(g.stdout, "error   %s: %s\n", where, r.Err)
		case r.Fetched:
			fmt.Fprintf(g.stdout, "pulled  %s: %s %s %s (%s)\n", where, r.Want.Ref.Repo, r.Want.Ref.Chart, r.Version, r.Digest)
		default:
			fmt.Fprintf(g.stdout, "cached  %s: %s %s %s (%s)\n", where, r.Want.Ref.Repo, r.Want.Ref.Chart, r.Version, r.Digest)
		}
	}
	fmt.Fprintf(g.stdout, "%d chart references, %d not pulled; cache %s\n", n, failed, dir)
	if failed > 0 {
		return failGate()
	}
	return nil
}
