// The flags several commands share, bound to what internal/run takes.

package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/run"
)

// addStageFlags binds the stage flags on commands that run checks
// (check, serve).
func addStageFlags(fs *pflag.FlagSet, o *run.Stages) {
	fs.BoolVar(&o.NoSchema, "no-schema", false, "skip schema validation")
	fs.BoolVar(&o.NoPolicy, "no-policy", false, "skip policy evaluation")
	fs.StringArrayVar(&o.PolicyDirs, "policy", nil, "extra Rego policy directory, on top of the repo's and the built-in library (repeatable)")
	addLiveFlags(fs, &o.Live)
}

// addLiveFlags binds --live, --kubeconfig, --context and --live-timeout.
func addLiveFlags(fs *pflag.FlagSet, o *run.Live) {
	fs.BoolVar(&o.Enabled, "live", false, "also compare with the live cluster of each environment (server-side dry run, prune preview, drift)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for --live (default: gate.yaml live.kubeconfig, $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "kube context for --live environments that name no cluster in gate.yaml")
	fs.DurationVar(&o.Timeout, "live-timeout", 0, "bound on comparing one environment with its cluster (default: gate.yaml live.timeout, else 2m)")
}

// addLimitFlags binds the flags that bound what one run may cost; each
// wins over the gate.yaml limits key of the same name (internal/run).
func addLimitFlags(fs *pflag.FlagSet, l *run.Limits) {
	d := render.DefaultLimits()
	fs.IntVar(&l.MaxDocuments, "max-documents", 0, fmt.Sprintf("most YAML documents in one file (default gate.yaml limits.maxDocuments, else %d)", d.MaxDocuments))
	fs.IntVar(&l.MaxDepth, "max-yaml-depth", 0, fmt.Sprintf("deepest nesting in one YAML document (default gate.yaml limits.maxYAMLDepth, else %d)", d.MaxDepth))
	fs.IntVar(&l.MaxNodes, "max-yaml-nodes", 0, fmt.Sprintf("most nodes in one YAML document once aliases are expanded (default gate.yaml limits.maxYAMLNodes, else %d)", d.MaxNodes))
	fs.DurationVar(&l.RenderTimeout, "render-timeout", 0, "bound on rendering one environment (default gate.yaml limits.renderTimeout, else 2m)")
	fs.DurationVar(&l.PolicyTimeout, "policy-timeout", 0, "bound on one policy evaluation (default gate.yaml limits.policyTimeout, else 2s)")
	fs.DurationVar(&l.Timeout, "timeout", 0, "bound on the whole run (default gate.yaml limits.runTimeout, else 15m)")
	fs.StringVar(&l.MemoryLimit, "memory-limit", "", "memory budget of the run, like 4GiB or 512MiB; past it the run stops with a finding, 0 for none (default gate.yaml limits.memoryLimit, else 4GiB)")
}

// revFlags choose the revisions a run compares (run.Revisions);
// changedFiles names a file listing the change's files ("-" is stdin).
type revFlags struct {
	run.Revisions
	changedFiles string
}

func addRevFlags(fs *pflag.FlagSet, r *revFlags, baseDefault, baseHelp string) {
	fs.StringVar(&r.Base, "base", baseDefault, baseHelp)
	fs.StringVar(&r.Head, "head", "", "check this commit (read from git, no checkout) instead of the work tree")
	fs.BoolVar(&r.NoMergeBase, "no-merge-base", false, "compare against --base itself, not the merge-base of --base and the head (as a pull request does)")
	fs.BoolVar(&r.Staged, "staged", false, "check the staged index (what git commit would record) against HEAD: the pre-commit hook")
	fs.StringVar(&r.changedFiles, "changed-files", "", "file listing the change's files, one per line, repo-relative (- for stdin): only the environments they touch are checked")
	fs.BoolVar(&r.AllEnvs, "all-envs", false, "check every environment even when the change is known (default: only those it touches)")
}
