package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/run"
)

// addLiveFlags binds --live, --kubeconfig, --context and --live-timeout.
func addLiveFlags(fs *pflag.FlagSet, o *run.Live) {
	fs.BoolVar(&o.Enabled, "live", false, "also compare with the live cluster of each environment (server-side dry run, prune preview, drift)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for --live (default: gate.yaml live.kubeconfig, $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "kube context for --live environments that name no cluster in gate.yaml")
	fs.DurationVar(&o.Timeout, "live-timeout", 0, "bound on comparing one environment with its cluster (default: gate.yaml live.timeout, else 2m)")
}

// newLiveCmd groups the helpers of --live: gate live rbac prints the
// ClusterRoles documenting the access --live needs.
func newLiveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "live", Short: "Helpers for comparing with live clusters (see gate diff --live)", Args: cobra.NoArgs}
	cmd.AddCommand(g.printCmd("rbac", "Print the ClusterRoles gate needs for --live (read-only, plus optional dry-run)", cluster.RBAC))
	return cmd
}
