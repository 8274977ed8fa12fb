package main

import (
	"github.com/spf13/pflag"

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
