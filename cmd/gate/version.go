package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/escape"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gate's version and the versions of the engines it embeds",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(g.stdout, "gate %s\n", version)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(g.stdout, "go %s\n", bi.GoVersion)
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						fmt.Fprintf(g.stdout, "commit %s\n", s.Value)
					}
				}
				want := map[string]string{
					"helm.sh/helm/v4":                  "helm",
					"github.com/open-policy-agent/opa": "opa",
					"github.com/yannh/kubeconform":     "kubeconform",
				}
				for _, d := range bi.Deps {
					if d.Path == kustomizeAPI {
						fmt.Fprintln(g.stdout, kustomizeLine(d.Version))
					}
					if name, ok := want[d.Path]; ok {
						fmt.Fprintf(g.stdout, "%s %s\n", name, d.Version)
					}
				}
			}
			return nil
		},
	}
}

// kustomizeAPI is the module gate renders kustomizations with. The
// kustomize CLI a user compares with is versioned apart from it (kustomize
// v5.8.2 builds with api v0.21.2), so version names the release.
const kustomizeAPI = "sigs.k8s.io/kustomize/api"

// kustomizeReleases maps an api module version to the kustomize CLI
// release (sigs.k8s.io/kustomize/kustomize/v5) whose go.mod requires it,
// as read from each release's go.mod on the Go module proxy. A go.mod bump
// to an api version missing here fails TestKustomizeReleaseOfGoMod.
var kustomizeReleases = map[string]string{
	"v0.19.0": "v5.6.0",
	"v0.20.1": "v5.7.1",
	"v0.21.1": "v5.8.1",
	"v0.21.2": "v5.8.2",
	"v0.21.3": "v5.8.3",
}

// kustomizeLine says which kustomize release gate renders as: "kustomize
// v5.8.2 (api v0.21.2)", or the api version plainly when no release is
// known for it.
func kustomizeLine(api string) string {
	if rel, ok := kustomizeReleases[api]; ok {
		return fmt.Sprintf("kustomize %s (api %s)", rel, api)
	}
	return fmt.Sprintf("kustomize api %s (no kustomize release known for it)", api)
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with gate.yaml"}
	cmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON schema of gate.yaml (for editors)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := g.stdout.Write(config.Schema)
			return err
		},
	}, &cobra.Command{
		Use:   "validate",
		Short: "Check gate.yaml: unknown keys, bad values, missing environment paths",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			_, finds := discoverEnvs(src, cfg)
			for _, f := range finds {
				fmt.Fprintln(g.stderr, escape.Terminal(f.String()))
			}
			if len(finds) > 0 {
				return failGate()
			}
			fmt.Fprintln(g.stdout, "gate.yaml is valid")
			return nil
		},
	})
	return cmd
}
