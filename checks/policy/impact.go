package policy

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/render"
)

// ChangedFiles lists the policy files that differ between two stages
// (added, removed or edited), plus gate.yaml when its policy settings
// (rules, namespaces, exceptions, per-environment rules) differ.
func ChangedFiles(base, head *Stage) []string {
	var out []string
	for f, h := range head.files {
		if base.files[f] != h {
			out = append(out, f)
		}
	}
	for f := range base.files {
		if _, ok := head.files[f]; !ok {
			out = append(out, f)
		}
	}
	if !reflect.DeepEqual(policySettings(base), policySettings(head)) {
		file := head.cfg.File
		if file == "" {
			file = "gate.yaml"
		}
		out = append(out, file)
	}
	sort.Strings(out)
	return out
}

// policySettings is the part of gate.yaml that changes policy verdicts.
func policySettings(s *Stage) string {
	type envRules struct {
		Name  string
		Rules map[string]string
	}
	v := struct {
		Policies   any
		Exceptions any
		Envs       []envRules
		Timeout    string
	}{Policies: s.cfg.Policies, Exceptions: s.cfg.Exceptions, Timeout: s.cfg.Limits.PolicyTimeout}
	for _, e := range s.cfg.Environments {
		if len(e.Rules) > 0 {
			v.Envs = append(v.Envs, envRules{e.Name, e.Rules})
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Impact shows what a pull request's own policy changes would do: base is
// the stage built from the base revision's policies and gate.yaml (the one
// that decides the verdict), head the stage built from the pull request's.
// Both are evaluated over the same head renderings; findings only head
// raises are newly flagged, findings only base raises are cleared. It
// returns nil when the pull request changes no policy. The result is
// informational: it never decides the verdict.
func Impact(ctx context.Context, base, head *Stage, results []*render.Result) *checks.PolicyImpact {
	changed := ChangedFiles(base, head)
	if len(changed) == 0 {
		return nil
	}
	imp := &checks.PolicyImpact{ChangedFiles: changed, NewlyFlagged: []checks.Finding{}, Cleared: []checks.Finding{}}
	for _, res := range results {
		if ctx.Err() != nil {
			break
		}
		bf := base.evaluate(ctx, res.Env, res, nil, false, nil)
		hf := head.evaluate(ctx, res.Env, res, nil, false, nil)
		bk, hk := impactKeys(bf), impactKeys(hf)
		for k, f := range hk {
			if _, ok := bk[k]; !ok {
				imp.NewlyFlagged = append(imp.NewlyFlagged, f)
			}
		}
		for k, f := range bk {
			if _, ok := hk[k]; !ok {
				imp.Cleared = append(imp.Cleared, f)
			}
		}
	}
	checks.SortFindings(imp.NewlyFlagged)
	checks.SortFindings(imp.Cleared)
	return imp
}

// impactKeys indexes the findings that count: unwaived and at least a
// notice. A severity change is a different finding (it changes the verdict).
func impactKeys(fs []checks.Finding) map[string]checks.Finding {
	out := make(map[string]checks.Finding, len(fs))
	for _, f := range fs {
		if f.Waived != "" || f.Severity == checks.SeverityNone {
			continue
		}
		res := ""
		if f.Resource != nil {
			res = f.Resource.String()
		}
		k := strings.Join([]string{f.Env, f.RuleID, f.Severity.String(), res, f.Path, f.Message}, "\x00")
		out[k] = f
	}
	return out
}
