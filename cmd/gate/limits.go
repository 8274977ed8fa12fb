package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/run"
)

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

// renderOptionsFor is renderOptions bounded by the limits of cfg and the
// flags.
func (g *globals) renderOptionsFor(cfg *config.Config) render.Options {
	return g.limits.RenderOptions(g.renderOptions(), cfg, g.log)
}
