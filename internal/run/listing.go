package run

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/report"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

// Envs are gate envs: the environments of src, each Flux cluster with the
// tree of what it applies (its Kustomizations and HelmReleases, each with
// the line that declares it; what the tree leaves out is marked on it).
// finds are discovery's findings; treeFinds the trees' details, each said
// once (a file two clusters share gives the same finding in each).
func Envs(ctx context.Context, src source.Source, cfg *config.Config, opts render.Options) (envs []checks.Env, finds, treeFinds []checks.Finding) {
	envs, finds = render.Discover(src, cfg)
	said := map[string]bool{}
	trees, tfs := render.New(opts).FluxTrees(ctx, src, envs)
	for i, e := range envs {
		if e.Kind != render.KindFlux {
			continue
		}
		envs[i].Tree = render.FlattenFluxTree(trees[i])
		for _, f := range tfs[i] {
			if line := f.String(); !said[line] {
				said[line] = true
				treeFinds = append(treeFinds, f)
			}
		}
	}
	return envs, finds, treeFinds
}

// WriteEnvs writes gate envs' listing: json, or text (a table, then what
// each sync-tool environment expands to).
func WriteEnvs(w io.Writer, envs []checks.Env, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(envs)
	case "text", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tPATH\tKUBERNETES\tWHY")
		// The version an environment without one is validated against
		// (the newest embedded), not the word "default".
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
		writeTrees(w, envs)
		return nil
	}
	return usage("--output %q: want text or json", format)
}

// writeTrees shows, under the table, what each sync-tool environment
// expands to (Application -> sources), with the line that declared each.
func writeTrees(w io.Writer, envs []checks.Env) {
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

// WriteRenderYAML writes gate render's output: every environment's
// objects as multi-document YAML, each preceded by a "# Source:" comment
// (origins) and, when there are several environments, opened by a
// separator comment naming it.
func WriteRenderYAML(w io.Writer, results []*render.Result, origins bool) {
	multi := len(results) > 1
	for _, r := range results {
		if multi {
			// A separator between environments: a reader (or a grep) sees
			// where one ends, and an empty environment still shows.
			fmt.Fprintf(w, "# ===== environment %s (%s): %s =====\n",
				escape.Comment(r.Env.Name), escape.Comment(r.Env.Path), report.Plural(len(r.Resources), "resource"))
		}
		for _, res := range r.Resources {
			fmt.Fprintln(w, "---")
			if origins {
				if multi {
					fmt.Fprintf(w, "# Env: %s\n", escape.Comment(r.Env.Name))
				}
				fmt.Fprintf(w, "# Source: %s\n", escape.Comment(res.Origin.String()))
			}
			doc, err := escape.Document(res.YAML, res.Object)
			if err != nil {
				doc = []byte(escape.Lines(string(res.YAML)))
			}
			w.Write(doc) //nolint:errcheck // stdout
		}
	}
}

type renderJSON struct {
	Env       checks.Env         `json:"env"`
	Resources []*checks.Resource `json:"resources"`
	Findings  []checks.Finding   `json:"findings"`
	Files     []string           `json:"files"`
}

// WriteRenderJSON writes gate render -o json: per environment its objects,
// findings and the files it read.
func WriteRenderJSON(w io.Writer, results []*render.Result) error {
	out := make([]renderJSON, 0, len(results))
	for _, r := range results {
		finds := r.Findings
		if finds == nil {
			finds = []checks.Finding{}
		}
		out = append(out, renderJSON{Env: r.Env, Resources: r.Resources, Findings: finds, Files: r.Files})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
