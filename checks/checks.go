// Package checks is the vocabulary every stage of gate speaks: environments,
// rendered resources with their origin, findings and the report. Stages
// (render, schema, policy, diff) produce these; sinks (report formats, check
// runs) only read them. The package has no dependencies on purpose, so every
// other package can import it.
package checks

import (
	"fmt"
	"sort"
	"strings"
)

// Severity orders findings; the gate fails on the configured threshold.
type Severity int

// Severities, lowest first. The zero value is SeverityNone so an unset
// severity in config is distinguishable from "notice".
const (
	SeverityNone Severity = iota
	SeverityNotice
	SeverityWarning
	SeverityError
)

// String returns the lower-case name used in config, JSON and SARIF mapping.
func (s Severity) String() string {
	switch s {
	case SeverityNotice:
		return "notice"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return "none"
}

// ParseSeverity reads a severity name as written in gate.yaml or on a flag.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "notice", "info":
		return SeverityNotice, nil
	case "warning", "warn":
		return SeverityWarning, nil
	case "error", "deny", "failure":
		return SeverityError, nil
	case "none", "off":
		return SeverityNone, nil
	}
	return SeverityNone, fmt.Errorf("unknown severity %q (want error, warning, notice or off)", s)
}

// MarshalText makes severities readable in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts the names ParseSeverity accepts.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Origin is where a thing came from in the ops repo: the line an author must
// change. File is repo-relative with forward slashes; Line is 1-based, 0 when
// unknown.
type Origin struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Approximate is set when gate could not tell which line set the field
	// (a transformer it does not model changed it, or the source does not
	// hold it): the line is the closest one known, not a claim.
	Approximate bool `json:"approximate,omitempty"`
}

// IsZero reports whether the origin is unknown.
func (o Origin) IsZero() bool { return o.File == "" }

// String renders file:line the way editors and terminals link it.
func (o Origin) String() string {
	if o.File == "" {
		return ""
	}
	if o.Line > 0 {
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	}
	return o.File
}

// ResourceID identifies an object the way the API server does.
type ResourceID struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// APIVersion returns group/version, or version for the core group.
func (id ResourceID) APIVersion() string {
	if id.Group == "" {
		return id.Version
	}
	return id.Group + "/" + id.Version
}

// String is a stable, human readable key: Kind/namespace/name.
func (id ResourceID) String() string {
	if id.Namespace == "" {
		return id.Kind + "/" + id.Name
	}
	return id.Kind + "/" + id.Namespace + "/" + id.Name
}

// Key is the identity used to pair base and head objects: the version is
// left out so an apiVersion bump is a change, not a remove and an add.
func (id ResourceID) Key() string {
	return id.Group + "|" + id.Kind + "|" + id.Namespace + "|" + id.Name
}

// ParseAPIVersion splits "apps/v1" into group and version.
func ParseAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// Resource is one rendered object with the origin of the document it came
// from and the files that changed it on the way (patches, overlays).
type Resource struct {
	ID     ResourceID     `json:"id"`
	Object map[string]any `json:"object"`
	// Origin is the source document of the object (or the generator entry
	// that made it).
	Origin Origin `json:"origin"`
	// Patches are the patch files that modified the object, in order.
	Patches []Origin `json:"patches,omitempty"`
	// YAML is the rendered document exactly as gate prints it.
	YAML []byte `json:"-"`
}

// Locator maps a field of a rendered resource back to the source line that
// set it. Stages use it so a finding on spec.replicas lands on the line of
// replicas in the patch or base, not on the top of the document.
type Locator interface {
	Locate(r *Resource, path []string) Origin
}

// Env is one environment of the ops repo: a kustomization, a chart or a
// plain YAML directory that ends up in one cluster namespace set.
type Env struct {
	Name string `json:"name"`
	// Path is the repo-relative root of the environment.
	Path string `json:"path"`
	// Kind is how the env renders: "kustomize", "helm" or "plain".
	Kind              string            `json:"kind"`
	KubernetesVersion string            `json:"kubernetesVersion,omitempty"`
	Cluster           string            `json:"cluster,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	// Reason says why the env exists: declared in gate.yaml or how discovery found it.
	Reason string `json:"reason"`
	// ValuesFiles are repo-relative Helm values files for helm envs.
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// Namespace is the release namespace for helm envs.
	Namespace string `json:"namespace,omitempty"`
	// Tree is what a sync tool's object expands to (an Argo CD Application
	// and its sources, with the parents that declared it), each node with
	// the line that declared it; empty for plain kustomizations.
	Tree []Node `json:"tree,omitempty"`
	// Repos are the repository URLs that name this repo: sources there
	// render from gate's tree, every other one is reported as not rendered.
	Repos []string `json:"repos,omitempty"`
}

// Node is one object of a sync tool's tree: an Argo CD Application or one
// of its sources, a Flux Kustomization or HelmRelease.
type Node struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Depth is the level in the tree, 0 for the root.
	Depth int `json:"depth,omitempty"`
	// Detail says what the node renders (path, chart, repository, revision).
	Detail string `json:"detail,omitempty"`
	Origin Origin `json:"origin"`
	// NotRendered says why gate left the node out; "" when it rendered.
	NotRendered string `json:"notRendered,omitempty"`
}

// Finding is the one thing every check reports.
type Finding struct {
	// Check is the stage that produced it: render, schema, policy, diff, live.
	Check    string   `json:"check"`
	RuleID   string   `json:"ruleId"`
	Severity Severity `json:"severity"`
	Env      string   `json:"env,omitempty"`
	// Resource is empty for findings about a file rather than an object.
	Resource *ResourceID `json:"resource,omitempty"`
	Message  string      `json:"message"`
	// Path is the field path inside the object, when known (spec.replicas).
	Path    string `json:"path,omitempty"`
	Origin  Origin `json:"origin"`
	HelpURL string `json:"helpUrl,omitempty"`
	// Waived holds the reason when an exception covers the finding; a waived
	// finding is shown but never fails the gate.
	Waived string `json:"waived,omitempty"`
	// Details are the extra fields a policy attached to its verdict
	// (conftest's metadata, Gatekeeper's details), for machine readers.
	Details map[string]any `json:"details,omitempty"`
	// Baseline is the finding's state against the base revision or a
	// baseline file: new, existing or fixed; empty when nothing was
	// compared. With fail-on scope new (the default) existing findings are
	// shown but do not fail the gate.
	Baseline string `json:"baseline,omitempty"`
	// Fingerprint identifies the finding across revisions (FingerprintOf);
	// set when it was compared with a baseline.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// String is the one-line form used in logs and the text report.
func (f Finding) String() string {
	var b strings.Builder
	if s := f.Origin.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	b.WriteString(f.Severity.String())
	b.WriteString(" ")
	b.WriteString(f.RuleID)
	if f.Resource != nil {
		b.WriteString(" ")
		b.WriteString(f.Resource.String())
	}
	b.WriteString(": ")
	b.WriteString(f.Message)
	return b.String()
}

// SortFindings orders findings stably: env, file, line, rule, message. Every
// sink prints them in this order so outputs are reproducible.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Env != b.Env {
			return a.Env < b.Env
		}
		if a.Origin.File != b.Origin.File {
			return a.Origin.File < b.Origin.File
		}
		if a.Origin.Line != b.Origin.Line {
			return a.Origin.Line < b.Origin.Line
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		ar, br := "", ""
		if a.Resource != nil {
			ar = a.Resource.String()
		}
		if b.Resource != nil {
			br = b.Resource.String()
		}
		if ar != br {
			return ar < br
		}
		return a.Message < b.Message
	})
}

// Failing reports whether any unwaived finding is at or above threshold,
// whatever its baseline state (Report.Failing applies the scope).
func Failing(fs []Finding, threshold Severity) bool {
	return FailingIn(fs, threshold, ScopeAll)
}
