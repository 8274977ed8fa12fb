package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/policy"
	"github.com/gate-ops/gate/checks/schema"
	"github.com/gate-ops/gate/checks/source"
)

// Stages choose and shape the check stages of a run.
type Stages struct {
	// NoSchema / NoPolicy switch whole stages off.
	NoSchema bool
	NoPolicy bool
	// PolicyDirs are extra policy directories or OPA bundle archives chosen
	// by whoever runs gate (trusted, unlike anything in a pull request).
	PolicyDirs []string
	// PolicyTimeout bounds one evaluation; 0 for gate.yaml's.
	PolicyTimeout time.Duration
	// Live compares with the environments' clusters.
	Live Live
}

// BuildStages constructs the check stages of a run, in order. trusted is
// where gate.yaml's schema paths and the policies come from: the base
// revision when there is one (a pull request is judged by the policies it
// tries to change), else the work tree. Problems loading a stage (a policy
// that does not compile) are findings, never dropped. Adding a check is
// one block here.
func BuildStages(ctx context.Context, trusted source.Source, cfg *config.Config, o Stages) ([]engine.Stage, []checks.Finding, error) {
	var stages []engine.Stage
	var finds []checks.Finding
	if !o.NoSchema {
		st, fs, err := SchemaStage(trusted, cfg)
		if err != nil {
			return nil, finds, err
		}
		stages, finds = append(stages, st), append(finds, fs...)
	}
	if !o.NoPolicy {
		st, fs, err := PolicyStage(ctx, trusted, cfg, o)
		if err != nil {
			return nil, finds, err
		}
		stages, finds = append(stages, st), append(finds, fs...)
	}
	if st, fs := o.Live.Stage(cfg); st != nil || len(fs) > 0 {
		if st != nil {
			stages = append(stages, st)
		}
		finds = append(finds, fs...)
	}
	return stages, finds, nil
}

// SchemaStage builds the schema stage from the trusted gate.yaml;
// schemas.paths are read from the trusted source too.
func SchemaStage(trusted source.Source, cfg *config.Config) (engine.Stage, []checks.Finding, error) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	st, finds, err := schema.New(schema.Options{Config: cfg.Schemas, Source: trusted})
	if err != nil {
		return nil, finds, fmt.Errorf("schema stage: %w", err)
	}
	for i := range finds {
		if finds[i].Origin.File == "gate.yaml" && cfg.File != "" {
			finds[i].Origin.File = cfg.File
		}
	}
	return st, finds, nil
}

// PolicyStage builds the policy stage from the trusted source and
// gate.yaml plus o.PolicyDirs.
func PolicyStage(ctx context.Context, trusted source.Source, cfg *config.Config, o Stages) (engine.Stage, []checks.Finding, error) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	dirs, err := PolicyDirs(o.PolicyDirs, 0)
	if err != nil {
		return nil, nil, err
	}
	st, finds := policy.Load(ctx, trusted, cfg, policy.Options{Dirs: dirs, Timeout: o.PolicyTimeout, DefaultKubernetesVersion: schema.DefaultKubernetesVersion()})
	return st, finds, nil
}

// PolicyDirs opens policy directories and OPA bundle archives named by
// whoever runs gate.
func PolicyDirs(dirs []string, maxFile int64) ([]policy.Dir, error) {
	out := make([]policy.Dir, 0, len(dirs))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.Mode().IsRegular() && policy.IsBundle(d) {
			// An OPA bundle archive: read it from its directory.
			parent := filepath.Dir(d)
			src, err := source.OpenDir(parent, maxFile)
			if err != nil {
				return nil, fmt.Errorf("--policy %s: %w", d, err)
			}
			out = append(out, policy.Dir{Name: filepath.ToSlash(parent), Src: src, Path: filepath.Base(d)})
			continue
		}
		src, err := source.OpenDir(d, maxFile)
		if err != nil {
			return nil, fmt.Errorf("--policy %s: %w", d, err)
		}
		out = append(out, policy.Dir{Name: filepath.ToSlash(d), Src: src})
	}
	return out, nil
}
