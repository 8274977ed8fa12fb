package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/run"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gate's version and the versions of the engines it embeds",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			run.WriteVersion(g.stdout, version)
			return nil
		},
	}
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with gate.yaml"}
	cmd.AddCommand(g.printCmd("schema", "Print the JSON schema of gate.yaml (for editors)", config.Schema), &cobra.Command{
		Use:   "validate",
		Short: "Check gate.yaml: unknown keys, bad values, missing environment paths",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			src, cfg, err := g.openWorktree()
			if err != nil {
				return err
			}
			_, finds := render.Discover(src, cfg)
			g.printFindings(finds)
			if len(finds) > 0 {
				return failGate()
			}
			fmt.Fprintln(g.stdout, "gate.yaml is valid")
			return nil
		},
	})
	return cmd
}

// newLiveCmd groups the helpers of --live: gate live rbac prints the
// ClusterRoles documenting the access --live needs.
func newLiveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "live", Short: "Helpers for comparing with live clusters (see gate diff --live)", Args: cobra.NoArgs}
	cmd.AddCommand(g.printCmd("rbac", "Print the ClusterRoles gate needs for --live (read-only, plus optional dry-run)", cluster.RBAC))
	return cmd
}
