package main

import (
	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/charts"
)

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
			var ref *charts.Ref
			if url != "" {
				ref = &charts.Ref{Repo: url, Chart: chart, Version: version}
			}
			ok, err := g.ws().PullCharts(cmd.Context(), g.stdout, base, ref, g.cacheDir)
			if err != nil {
				return err
			}
			return verdict(ok)
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "read the chart references and gate.yaml from this commit instead of the work tree")
	cmd.Flags().StringVar(&url, "url", "", "pull one chart from this repository URL (https://... or oci://...)")
	cmd.Flags().StringVar(&chart, "chart", "", "the chart name, with --url")
	cmd.Flags().StringVar(&version, "version", "", "the version or semver range, with --url (default: the latest)")
	return cmd
}
