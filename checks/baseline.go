package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Baseline states of a finding compared with the base revision (or a
// baseline file). A team with existing debt can only turn gate on as a
// required check if the verdict judges what a change introduces, not the
// history: existing findings are shown, never hidden, but by default only
// new ones fail the gate.
const (
	// BaselineNew: the finding is not on the base.
	BaselineNew = "new"
	// BaselineExisting: the same finding (by fingerprint) is on the base.
	BaselineExisting = "existing"
	// BaselineFixed: the finding is on the base and the change removes it.
	BaselineFixed = "fixed"
)

// Fail-on scopes: which findings the verdict counts.
const (
	// ScopeNew counts new findings (and those nothing was compared for).
	ScopeNew = "new"
	// ScopeAll counts every finding, as before baselines existed.
	ScopeAll = "all"
)

// ParseScope reads a fail-on scope as written in gate.yaml or on a flag.
func ParseScope(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case ScopeNew:
		return ScopeNew, nil
	case ScopeAll:
		return ScopeAll, nil
	}
	return "", &scopeError{s}
}

type scopeError struct{ s string }

func (e *scopeError) Error() string {
	return "unknown scope " + quote(e.s) + " (want new or all)"
}

func quote(s string) string { return "\"" + strings.ReplaceAll(s, "\"", "\\\"") + "\"" }

// BaselineSummary counts a report's findings by baseline state.
type BaselineSummary struct {
	// Against names what the findings were compared with: "base" (the base
	// revision, rendered and checked with the same rules) or the path of a
	// baseline file.
	Against  string `json:"against"`
	New      int    `json:"new"`
	Existing int    `json:"existing"`
	Fixed    int    `json:"fixed"`
}

// generatorSuffix is the hash kustomize's configMapGenerator and
// secretGenerator append to a name ("-" and ten characters of its encoding
// alphabet): a content change renames the object, which must not turn its
// findings new.
var generatorSuffix = regexp.MustCompile(`-[2456789bcdfghkmt]{10}$`)

// StableName strips a generator hash suffix from the name of a ConfigMap
// or Secret; other names are returned as they are.
func StableName(kind, name string) string {
	if kind != "ConfigMap" && kind != "Secret" {
		return name
	}
	return generatorSuffix.ReplaceAllString(name, "")
}

// generatorSuffixInText finds generator-suffixed names inside a message
// (stableMessage drops the suffix), so the fallback match of two findings
// survives a renamed ConfigMap too.
var generatorSuffixInText = regexp.MustCompile(`-[2456789bcdfghkmt]{10}\b`)

// FingerprintOf identifies a finding across revisions without its line, so
// a finding survives edits above it, a resource moving within its file and
// a generator's new hash suffix: rule, environment, object identity (group,
// kind, namespace and stable name; not the version) and field path. A
// finding about a file rather than an object is identified by the file.
func FingerprintOf(f Finding) string {
	parts := []string{"v1", f.RuleID, f.Env}
	if f.Resource != nil {
		r := f.Resource
		parts = append(parts, r.Group, r.Kind, r.Namespace, StableName(r.Kind, r.Name), f.Path)
	} else {
		parts = append(parts, "", "", "", "", f.Path, f.Origin.File)
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:12])
}

// CompareBaseline marks each of head with its fingerprint and its state
// against base (new or existing) and returns the base findings the head no
// longer has, marked fixed. Several findings can share a fingerprint (two
// messages about one field): they pair one to one, first by fingerprint
// and message, then by fingerprint alone.
func CompareBaseline(head, base []Finding) (fixed []Finding) {
	type key struct{ fp, msg string }
	exact := map[key][]int{}
	loose := map[string][]int{}
	used := make([]bool, len(base))
	for i := range base {
		fp := base[i].Fingerprint
		if fp == "" {
			fp = FingerprintOf(base[i])
			base[i].Fingerprint = fp
		}
		exact[key{fp, stableMessage(base[i].Message)}] = append(exact[key{fp, stableMessage(base[i].Message)}], i)
		loose[fp] = append(loose[fp], i)
	}
	take := func(idx []int) bool {
		for _, j := range idx {
			if !used[j] {
				used[j] = true
				return true
			}
		}
		return false
	}
	matched := make([]bool, len(head))
	for i := range head {
		head[i].Fingerprint = FingerprintOf(head[i])
		matched[i] = take(exact[key{head[i].Fingerprint, stableMessage(head[i].Message)}])
	}
	for i := range head {
		if !matched[i] {
			matched[i] = take(loose[head[i].Fingerprint])
		}
		if matched[i] {
			head[i].Baseline = BaselineExisting
		} else {
			head[i].Baseline = BaselineNew
		}
	}
	for j := range base {
		if !used[j] {
			f := base[j]
			f.Baseline = BaselineFixed
			fixed = append(fixed, f)
		}
	}
	SortFindings(fixed)
	return fixed
}

func stableMessage(m string) string { return generatorSuffixInText.ReplaceAllString(m, "") }

// Counts reports whether a finding counts toward the verdict of a report
// failing on threshold within scope: unwaived, at or above the threshold,
// and (in scope new) not already on the base.
func Counts(f Finding, threshold Severity, scope string) bool {
	if threshold == SeverityNone || f.Waived != "" || f.Severity < threshold {
		return false
	}
	return !(scope != ScopeAll && f.Baseline == BaselineExisting) && f.Baseline != BaselineFixed
}

// FailingIn reports whether any of fs counts toward the verdict.
func FailingIn(fs []Finding, threshold Severity, scope string) bool {
	for _, f := range fs {
		if Counts(f, threshold, scope) {
			return true
		}
	}
	return false
}

// Failing reports whether any of fs fails this report's verdict.
func (r *Report) Failing(fs []Finding) bool { return FailingIn(fs, r.FailOn, r.FailOnScope) }

// Decides reports whether f counts toward this report's verdict.
func (r *Report) Decides(f Finding) bool { return Counts(f, r.FailOn, r.FailOnScope) }

// SummarizeBaseline recounts r.Baseline from the findings (after waivers
// and scrubbing), when the report was compared with a baseline.
func (r *Report) SummarizeBaseline() {
	if r.Baseline == nil {
		return
	}
	s := BaselineSummary{Against: r.Baseline.Against}
	count := func(fs []Finding) {
		for _, f := range fs {
			switch f.Baseline {
			case BaselineNew:
				s.New++
			case BaselineExisting:
				s.Existing++
			case BaselineFixed:
				s.Fixed++
			}
		}
	}
	count(r.Findings)
	for _, e := range r.Envs {
		count(e.Findings)
		count(e.Fixed)
	}
	*r.Baseline = s
}
