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
	"github.com/gate-ops/gate/checks/render"
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
			// A Flux cluster lists what it applies: its Kustomizations and
			// HelmReleases, each with the line that declares it.
			trees := map[string]*render.FluxNode{}
			r := render.New(g.renderOptionsFor(cfg))
			for _, e := range envs {
				if e.Kind == render.KindFlux {
					t, tf := r.FluxTree(cmd.Context(), src, e)
					trees[e.Name] = t
					// What the tree left out is marked on it; the details
					// go to stderr without failing the listing.
					for _, f := range tf {
						fmt.Fprintln(g.stderr, noControl(f.String()))
					}
				}
			}
			for _, f := range finds {
				fmt.Fprintln(g.stderr, f.String())
			}
			switch output {
			case "json":
				type envOut struct {
					checks.Env
					Tree *render.FluxNode `json:"tree,omitempty"`
				}
				out := make([]envOut, 0, len(envs))
				for _, e := range envs {
					out = append(out, envOut{Env: e, Tree: trees[e.Name]})
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			case "text", "":
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tPATH\tKUBERNETES\tWHY")
				for _, e := range envs {
					kv := e.KubernetesVersion
					if kv == "" {
						kv = "default"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Kind, e.Path, kv, e.Reason)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for _, e := range envs {
					if t := trees[e.Name]; t != nil {
						fmt.Fprintf(g.stdout, "\n%s (%s):\n", e.Name, e.Kind)
						printFluxTree(g.stdout, t, "")
					}
				}
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

// printFluxTree prints a Flux environment's tree, one node a line with the
// file:line that declares it.
func printFluxTree(w io.Writer, n *render.FluxNode, indent string) {
	var b strings.Builder
	b.WriteString(indent)
	b.WriteString(n.Kind)
	b.WriteString(" ")
	if n.Namespace != "" {
		b.WriteString(n.Namespace + "/")
	}
	b.WriteString(n.Name)
	if o := n.Origin.String(); o != "" {
		b.WriteString("  " + o)
	}
	if n.Path != "" && n.Kind != "Cluster" {
		b.WriteString("  path " + n.Path)
	}
	if n.Chart != "" {
		b.WriteString("  chart " + n.Chart)
	}
	if len(n.DependsOn) > 0 {
		b.WriteString("  dependsOn " + strings.Join(n.DependsOn, ", "))
	}
	if n.NotRendered != "" {
		b.WriteString("  NOT RENDERED: " + n.NotRendered)
	}
	fmt.Fprintln(w, noControl(b.String()))
	for _, c := range n.Children {
		printFluxTree(w, c, indent+"  ")
	}
}

// noControl drops control characters: names in the tree come from the
// head of a pull request and must not drive the terminal.
func noControl(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return -1
		}
		return r
	}, s)
}
