package policy

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/render"
)

// WaiverAnnotation is the resource annotation that waives rules for that
// resource. Its value is a YAML list shaped like gate.yaml's exceptions:
//
//	metadata:
//	  annotations:
//	    gate-ops.io/waive: |
//	      - rule: image-tag-pinned
//	        reason: vendor only publishes :latest, tracked in OPS-123
//	        expires: 2026-12-31
const WaiverAnnotation = "gate-ops.io/waive"

// waiver is one exception, from gate.yaml or an annotation.
type waiver struct {
	rule, reason, expires string
	until                 time.Time
	origin                checks.Origin
	annotation            bool
}

func (w waiver) label() string {
	return fmt.Sprintf("%s (%s, until %s)", w.reason, w.origin, w.expires)
}

// annotationWaivers reads the waiver annotation of a resource. Problems are
// findings; a malformed waiver waives nothing.
func annotationWaivers(env checks.Env, res *render.Result, r *checks.Resource) ([]waiver, []checks.Finding) {
	md, _ := r.Object["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	raw, ok := ann[WaiverAnnotation].(string)
	if !ok {
		return nil, nil
	}
	origin := res.Locate(r, []string{"metadata", "annotations", WaiverAnnotation})
	bad := func(msg string) []checks.Finding {
		return []checks.Finding{{Check: Name, RuleID: RuleWaiverInvalid, Severity: checks.SeverityWarning, Env: env.Name, Resource: &r.ID, Origin: origin,
			Message: fmt.Sprintf("%s annotation: %s; it waives nothing", WaiverAnnotation, msg)}}
	}
	var list []config.Exception
	if err := yaml.Unmarshal([]byte(raw), &list); err != nil {
		var one config.Exception
		if err2 := yaml.Unmarshal([]byte(raw), &one); err2 != nil || one.Rule == "" {
			return nil, bad("want a YAML list of {rule, reason, expires}: " + err.Error())
		}
		list = []config.Exception{one}
	}
	var out []waiver
	var finds []checks.Finding
	for _, x := range list {
		if x.Rule == "" || strings.TrimSpace(x.Reason) == "" || x.Expires == "" {
			finds = append(finds, bad(fmt.Sprintf("waiver for rule %q needs rule, reason and expires", x.Rule))...)
			continue
		}
		until, err := x.ExpiresAt()
		if err != nil {
			finds = append(finds, bad(fmt.Sprintf("waiver for rule %q: expires %q: want YYYY-MM-DD", x.Rule, x.Expires))...)
			continue
		}
		out = append(out, waiver{rule: x.Rule, reason: x.Reason, expires: x.Expires, until: until, origin: origin, annotation: true})
	}
	return out, finds
}

// configWaivers are gate.yaml's exceptions that apply to r in env.
func (s *Stage) configWaivers(env checks.Env, r *checks.Resource) []waiver {
	var out []waiver
	for _, x := range s.cfg.Exceptions {
		if x.Name == "" || x.Name != r.ID.Name {
			continue
		}
		if (x.Env != "" && x.Env != env.Name) || (x.Kind != "" && x.Kind != r.ID.Kind) || (x.Namespace != "" && x.Namespace != r.ID.Namespace) {
			continue
		}
		until, err := x.ExpiresAt()
		if err != nil {
			continue // config validation already refused it
		}
		file := s.cfg.File
		if file == "" {
			file = config.FileName
		}
		out = append(out, waiver{rule: x.Rule, reason: x.Reason, expires: x.Expires, until: until, origin: checks.Origin{File: file, Line: x.Line}})
	}
	return out
}

// applyWaivers marks findings an exception covers as waived. An expired
// exception no longer waives and says so. In a pull request (pr: the run
// has a base revision) the head is data: it may not waive the policies
// judging it. An annotation waiver counts only when the base's object holds
// one for the same rule, with the base's reason and expiry; one the change
// adds (or one on an object the base does not have) is shown as a
// proposed waiver and waives nothing until it is merged. gate.yaml's
// exceptions come from the base already.
func (s *Stage) applyWaivers(env checks.Env, res *render.Result, base *render.Result, pr bool, finds []checks.Finding) []checks.Finding {
	if len(finds) == 0 {
		return finds
	}
	now := s.opts.Now()
	byKey := make(map[string]*checks.Resource, len(res.Resources))
	for _, r := range res.Resources {
		byKey[r.ID.Key()] = r
	}
	var baseByKey map[string]*checks.Resource
	if base != nil {
		baseByKey = make(map[string]*checks.Resource, len(base.Resources))
		for _, r := range base.Resources {
			baseByKey[r.ID.Key()] = r
		}
	}
	type resWaivers struct{ list []waiver }
	cache := map[string]*resWaivers{}
	var extra []checks.Finding
	reported := map[string]bool{}
	for i := range finds {
		f := &finds[i]
		if f.Resource == nil || f.Check != Name || strings.HasPrefix(f.RuleID, "policy/") {
			continue
		}
		key := f.Resource.Key()
		rw := cache[key]
		if rw == nil {
			rw = &resWaivers{}
			if r := byKey[key]; r != nil {
				rw.list = s.configWaivers(env, r)
				aw, bad := annotationWaivers(env, res, r)
				extra = append(extra, bad...)
				if !pr {
					rw.list = append(rw.list, aw...)
				} else {
					var before []waiver
					if br := baseByKey[key]; br != nil {
						before, _ = annotationWaivers(env, base, br)
					}
					for _, w := range aw {
						bw, ok := ruleWaiver(before, w.rule)
						if !ok {
							extra = append(extra, checks.Finding{Check: Name, RuleID: RuleWaiverAdded, Severity: checks.SeverityWarning, Env: env.Name, Resource: &r.ID, Origin: w.origin,
								Message: fmt.Sprintf("this change proposes a waiver for rule %s (%q, until %s); it waives nothing until it is merged (only waivers the base holds count), a reviewer should approve it", w.rule, w.reason, w.expires)})
							continue
						}
						// The base's terms: the change cannot extend the
						// expiry or reword the reason of a waiver.
						w.reason, w.expires, w.until = bw.reason, bw.expires, bw.until
						rw.list = append(rw.list, w)
					}
				}
			}
			cache[key] = rw
		}
		for _, w := range rw.list {
			if w.rule != f.RuleID {
				continue
			}
			if now.After(w.until) {
				rk := key + "\x00" + w.rule + "\x00" + w.origin.String()
				if !reported[rk] {
					reported[rk] = true
					extra = append(extra, checks.Finding{Check: Name, RuleID: RuleWaiverExpired, Severity: checks.SeverityWarning, Env: env.Name, Resource: f.Resource, Origin: w.origin,
						Message: fmt.Sprintf("the waiver of rule %s for %s expired on %s (%s); the finding counts again: renew the waiver or fix the resource", w.rule, f.Resource, w.expires, w.reason)})
				}
				continue
			}
			f.Waived = w.label()
			break
		}
	}
	return append(finds, extra...)
}

// ruleWaiver returns the waiver of rule among ws.
func ruleWaiver(ws []waiver, rule string) (waiver, bool) {
	for _, w := range ws {
		if w.rule == rule {
			return w, true
		}
	}
	return waiver{}, false
}
