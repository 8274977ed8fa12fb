package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// Report implements engine.Reporter: when a run has a base revision, the
// stage (built from the base's policies and gate.yaml, the ones that decide
// the verdict) loads the pull request's own policies and gate.yaml from the
// head and evaluates both over the head renderings. What only the head's
// policies flag or clear, and the head's own policy load problems, become
// the report's policy impact: shown, never the verdict. Nothing is added
// when the change touches no policy.
func (s *Stage) Report(ctx context.Context, req *engine.Request, heads []*render.Result, rep *checks.Report) {
	if req == nil || req.Base == nil || req.Head == nil || rep == nil {
		return
	}
	headCfg, _, err := config.Load(req.Head, s.cfg.File)
	if err != nil {
		// The head's gate.yaml does not parse: its policies cannot be
		// judged, and the change must say so rather than show no impact.
		rep.PolicyImpact = &checks.PolicyImpact{
			ChangedFiles: []string{cfgFile(s.cfg)},
			NewlyFlagged: []checks.Finding{{Check: Name, RuleID: RuleLoad, Severity: checks.SeverityError,
				Message: fmt.Sprintf("the change's gate.yaml does not load, so its policies could not be evaluated: %v", err), Origin: checks.Origin{File: cfgFile(s.cfg)}}},
			Cleared: []checks.Finding{},
		}
		return
	}
	headCfg.File = s.cfg.File
	// Most changes touch no policy: compare the files (by content hash)
	// and gate.yaml's policy settings before compiling anything.
	set, _ := collect(req.Head, headCfg, s.opts.Dirs)
	hashes := map[string]string{}
	for _, f := range set.all() {
		hashes[f.path] = source.BlobHash(f.data)
	}
	if len(ChangedFiles(s, &Stage{cfg: headCfg, files: hashes})) == 0 {
		return
	}
	head, headLoad := Load(ctx, req.Head, headCfg, Options{Dirs: s.opts.Dirs, Timeout: s.opts.Timeout, Parallelism: s.opts.Parallelism, Now: s.opts.Now, Logger: s.opts.Logger, DefaultKubernetesVersion: s.opts.DefaultKubernetesVersion})
	imp := Impact(ctx, s, head, heads)
	if imp == nil {
		return
	}
	// Problems loading the head's policies that the base does not have: a
	// policy the change breaks would fail every later pull request once
	// merged.
	known := map[string]bool{}
	for _, f := range s.loadFinds {
		known[loadKey(f)] = true
	}
	for _, f := range headLoad {
		if !known[loadKey(f)] {
			imp.NewlyFlagged = append(imp.NewlyFlagged, f)
		}
	}
	checks.SortFindings(imp.NewlyFlagged)
	rep.PolicyImpact = imp
}

func loadKey(f checks.Finding) string {
	return strings.Join([]string{f.RuleID, f.Severity.String(), f.Origin.String(), f.Message}, "\x00")
}

func cfgFile(cfg *config.Config) string {
	if cfg.File != "" {
		return cfg.File
	}
	return config.FileName
}
