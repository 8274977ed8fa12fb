package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

func newEnvsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "envs",
		Short: "List the environments of the ops repo and why each was found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			envs, finds := render.Discover(src, cfg)
			for _, f := range finds {
				fmt.Fprintln(g.stderr, escape.Terminal(f.String()))
			}
			// A Flux cluster lists what it applies: its Kustomizations and
			// HelmReleases, each with the line that declares it. What the
			// tree leaves out is marked on it; the details go to stderr
			// without failing the listing.
			// A file two clusters share gives the same finding in each: it
			// is said once.
			r := render.New(g.renderOptionsFor(cfg))
			said := map[string]bool{}
			for i, e := range envs {
				if e.Kind != render.KindFlux {
					continue
				}
				tree, tf := r.FluxTree(cmd.Context(), src, e)
				envs[i].Tree = render.FlattenFluxTree(tree)
				for _, f := range tf {
					if line := f.String(); !said[line] {
						said[line] = true
						fmt.Fprintln(g.stderr, escape.Terminal(line))
					}
				}
			}
			switch output {
			case "json":
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(envs); err != nil {
					return err
				}
			case "text", "":
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tPATH\tKUBERNETES\tWHY")
				// The version an environment without one is validated
				// against (the newest embedded), not the word "default".
				newest := schema.DefaultKubernetesVersion()
				for _, e := range envs {
					kv := e.KubernetesVersion
					if kv == "" {
						kv = newest + " (newest)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", escape.Terminal(e.Name), escape.Terminal(e.Kind), escape.Terminal(e.Path), escape.Terminal(kv), escape.Terminal(e.Reason))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				printTrees(g.stdout, envs)
			default:
				return usageErr("--output %q: want text or json", output)
			}
			if len(finds) > 0 {
				return failGate()
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func discoverEnvs(src source.Source, cfg *config.Config) ([]checks.Env, []checks.Finding) {
	return render.Discover(src, cfg)
}

// printTrees shows, under the table, what each sync-tool environment
// expands to (Application -> sources), with the line that declared each.
func printTrees(w io.Writer, envs []checks.Env) {
	for _, e := range envs {
		if len(e.Tree) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", escape.Terminal(e.Name))
		for _, n := range e.Tree {
			line := fmt.Sprintf("%s%s %s", strings.Repeat("  ", n.Depth+1), n.Kind, n.Name)
			if n.Detail != "" {
				line += " (" + n.Detail + ")"
			}
			line += "  " + n.Origin.String()
			if n.NotRendered != "" {
				line += "  NOT RENDERED: " + n.NotRendered
			}
			fmt.Fprintln(w, escape.Terminal(line))
		}
	}
}
