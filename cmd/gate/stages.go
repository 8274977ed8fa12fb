package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/source"
)

// stageOptions are the flags that shape the check stages. Each check adds
// its own fields and flags here.
type stageOptions struct {
	// noSchema / noPolicy switch whole stages off.
	noSchema bool
	noPolicy bool
	// policyDirs are extra policy directories (--policy, repeatable).
	policyDirs []string
	// live compares with the environments' clusters (--live, live.go).
	live liveOptions
	// policyTimeout is --policy-timeout (limits.go), 0 for gate.yaml's.
	policyTimeout time.Duration
}

// addStageFlags binds the stage flags on commands that run checks
// (check, validate, serve).
func addStageFlags(fs *pflag.FlagSet, o *stageOptions) {
	fs.BoolVar(&o.noSchema, "no-schema", false, "skip schema validation")
	fs.BoolVar(&o.noPolicy, "no-policy", false, "skip policy evaluation")
	fs.StringArrayVar(&o.policyDirs, "policy", nil, "extra Rego policy directory, on top of the repo's and the built-in library (repeatable)")
	addLiveFlags(fs, &o.live)
}

// buildStages constructs the check stages of a run, in order. trusted is
// the source gate.yaml and policies come from: the base revision when one
// is given (a pull request is judged by the policies it tries to change),
// else the work tree. Problems loading a stage (a policy that does not
// compile) are findings, never dropped. Adding a check is one line here.
func buildStages(ctx context.Context, trusted source.Source, cfg *config.Config, o *stageOptions) ([]engine.Stage, []checks.Finding, error) {
	var stages []engine.Stage
	var finds []checks.Finding
	if !o.noSchema {
		st, fs, err := newSchemaStage(trusted, cfg)
		if err != nil {
			return nil, finds, err
		}
		stages, finds = append(stages, st), append(finds, fs...)
	}
	if !o.noPolicy {
		st, fs, err := newPolicyStage(ctx, trusted, cfg, o)
		if err != nil {
			return nil, finds, err
		}
		stages, finds = append(stages, st), append(finds, fs...)
	}
	if st, fs := o.live.stage(cfg); st != nil || len(fs) > 0 {
		if st != nil {
			stages = append(stages, st)
		}
		finds = append(finds, fs...)
	}
	_ = ctx
	_ = trusted
	_ = cfg
	return stages, finds, nil
}
