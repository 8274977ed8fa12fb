// Package config reads gate.yaml, the ops repo's declaration of its
// environments and of how gate judges them. Decoding is strict: an unknown
// key is an error naming the key and its line, because a typo in a gate's
// config must never silently switch a check off.
package config

import (
	_ "embed"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FileName is the config file gate looks for at the repo root.
const FileName = "gate.yaml"

// Schema is the published JSON schema of gate.yaml, for editors
// (yaml-language-server) and for `gate config schema`.
//
//go:embed gate.schema.json
var Schema []byte

// Config is gate.yaml.
type Config struct {
	// APIVersion is optional; when set it must be gate/v1.
	APIVersion   string       `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind         string       `yaml:"kind,omitempty" json:"kind,omitempty"`
	Defaults     Defaults     `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Environments []Env        `yaml:"environments,omitempty" json:"environments,omitempty"`
	Discovery    Discovery    `yaml:"discovery,omitempty" json:"discovery,omitempty"`
	Repository   Repository   `yaml:"repository,omitempty" json:"repository,omitempty"`
	Charts       Charts       `yaml:"charts,omitempty" json:"charts,omitempty"`
	ArgoCD       ArgoCD       `yaml:"argocd,omitempty" json:"argocd,omitempty"`
	Schemas      Schemas      `yaml:"schemas,omitempty" json:"schemas,omitempty"`
	Policies     Policies     `yaml:"policies,omitempty" json:"policies,omitempty"`
	Exceptions   []Exception  `yaml:"exceptions,omitempty" json:"exceptions,omitempty"`
	Diff         Diff         `yaml:"diff,omitempty" json:"diff,omitempty"`
	Live         Live         `yaml:"live,omitempty" json:"live,omitempty"`
	Limits       Limits       `yaml:"limits,omitempty" json:"limits,omitempty"`
	Report       ReportConfig `yaml:"report,omitempty" json:"report,omitempty"`

	// Remotes are the URLs of the checkout's git remotes, filled by the
	// front door (never read from the file): with Repository.URLs they are
	// how this repository is named (see checks/reporef).
	Remotes []string `yaml:"-" json:"-"`

	// File is the repo-relative path the config was read from ("" when defaulted).
	File string `yaml:"-" json:"-"`
	// Lines maps "environments[2]" style keys to their line in the file, so
	// findings about config point at the line.
	Lines map[string]int `yaml:"-" json:"-"`
}

// Defaults apply to every environment that does not say otherwise.
type Defaults struct {
	KubernetesVersion string `yaml:"kubernetesVersion,omitempty" json:"kubernetesVersion,omitempty"`
}

// Env declares one environment.
type Env struct {
	Name              string            `yaml:"name" json:"name"`
	Path              string            `yaml:"path" json:"path"`
	KubernetesVersion string            `yaml:"kubernetesVersion,omitempty" json:"kubernetesVersion,omitempty"`
	Cluster           string            `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	Labels            map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// ValuesFiles and Namespace apply when Path is a Helm chart.
	ValuesFiles []string `yaml:"valuesFiles,omitempty" json:"valuesFiles,omitempty"`
	Namespace   string   `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Rules overrides policy rule severities for this environment only.
	Rules map[string]string `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// Discovery tunes how environments are found when none are declared.
type Discovery struct {
	// Exclude lists repo-relative path prefixes that never hold environments.
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// Charts says where `gate charts pull` (and `gate serve` before a run) may
// fetch charts that are not in the repo. Only the base's gate.yaml counts:
// a pull request cannot widen what gate downloads.
type Charts struct {
	// Allow lists repository URL prefixes (https://charts.example.com,
	// oci://ghcr.io/org) charts may be pulled from. Empty: none.
	Allow []string `yaml:"allow,omitempty" json:"allow,omitempty"`
	// Mirrors maps a repository URL prefix to the URL that serves it (an
	// internal chart proxy). The chart cache keeps the original URL.
	Mirrors map[string]string `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
}

// ChartAllowed reports whether a chart repository URL is under one of
// charts.allow, compared on URL boundaries (https://a.example/x allows
// https://a.example/x/y, not https://a.example/xy).
func (c *Config) ChartAllowed(repo string) bool {
	repo = normURL(repo)
	for _, a := range c.Charts.Allow {
		a = normURL(a)
		if a != "" && (repo == a || strings.HasPrefix(repo, a+"/")) {
			return true
		}
	}
	return false
}

// ChartMirror maps a chart URL through charts.mirrors (the longest prefix
// on a URL boundary wins); it is returned unchanged when none applies.
func (c *Config) ChartMirror(u string) string {
	n := normURL(u)
	best := ""
	for p := range c.Charts.Mirrors {
		np := normURL(p)
		if np != "" && (n == np || strings.HasPrefix(n, np+"/")) && len(np) > len(normURL(best)) {
			best = p
		}
	}
	if best == "" {
		return u
	}
	return strings.TrimRight(c.Charts.Mirrors[best], "/") + strings.TrimPrefix(n, normURL(best))
}

// normURL lower-cases a URL's scheme and host and drops a trailing slash.
func normURL(u string) string {
	u = strings.TrimRight(strings.TrimSpace(u), "/")
	if i := strings.Index(u, "://"); i > 0 {
		host, p, _ := strings.Cut(u[i+3:], "/")
		u = strings.ToLower(u[:i]) + "://" + strings.ToLower(host)
		if p != "" {
			u += "/" + p
		}
	}
	return u
}

// Repository names this ops repository for the sync tool's objects: a Flux
// GitRepository or an Argo CD Application whose URL is one of URLs (in any
// git URL form) renders from the tree gate checks. The checkout's git
// remotes count too; list URLs here when the sync tool uses another (a
// mirror, an internal host name).
type Repository struct {
	URLs []string `yaml:"urls,omitempty" json:"urls,omitempty"`
}

// RepoURLs are the URLs that name this repository: gate.yaml's
// repository.urls and the checkout's remotes.
func (c *Config) RepoURLs() []string {
	if c == nil {
		return nil
	}
	out := append([]string(nil), c.Repository.URLs...)
	return append(out, c.Remotes...)
}

// ArgoCD tunes how Argo CD Applications become environments.
type ArgoCD struct {
	// EnvironmentPer is "application" (the default: one environment per
	// Application, what Argo CD syncs and reports on) or "cluster" (the
	// Applications of one destination cluster rendered together).
	EnvironmentPer string `yaml:"environmentPer,omitempty" json:"environmentPer,omitempty"`
	// Clusters are what the ApplicationSet cluster generator lists (Argo CD
	// reads them from its cluster Secrets, which are not in the repo).
	Clusters []ArgoCluster `yaml:"clusters,omitempty" json:"clusters,omitempty"`
}

// ArgoCluster is one cluster Argo CD knows.
type ArgoCluster struct {
	Name   string            `yaml:"name" json:"name"`
	Server string            `yaml:"server" json:"server"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Schemas configures schema validation.
type Schemas struct {
	// Paths are repo-relative directories of CustomResourceDefinitions
	// (YAML or JSON files; each becomes a schema for its served versions)
	// and kubeconform-style JSON schemas (GROUP/KIND_VERSION.json).
	Paths []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	// MissingSchema is the severity of a custom resource with no known schema.
	MissingSchema string `yaml:"missingSchema,omitempty" json:"missingSchema,omitempty"`
	// Strict rejects unknown fields and duplicate keys (default true).
	Strict *bool `yaml:"strict,omitempty" json:"strict,omitempty"`
	// Skip lists kinds (Deployment) or apiVersion/Kind (apps/v1/Deployment)
	// not to validate: kubeconform's -skip, one item per kind.
	Skip []string `yaml:"skip,omitempty" json:"skip,omitempty"`
	// Reject lists kinds (or apiVersion/Kind) that are an error wherever
	// an environment renders them: kubeconform's -reject.
	Reject []string `yaml:"reject,omitempty" json:"reject,omitempty"`
}

// Policies configures where Rego comes from and how rules are judged.
type Policies struct {
	// Paths are repo-relative policy directories or OPA bundle archives
	// (.tar.gz); default ["policy"] when it exists.
	Paths []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	// Namespaces are the conftest packages evaluated; default ["main"].
	Namespaces []string `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`
	// Builtin selects the embedded library: recommended (the default:
	// rules that break a sync or a cluster are errors, hygiene rules
	// warnings), strict (every rule an error, as before) or off. true and
	// false still mean recommended and off.
	Builtin BuiltinSet `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	// Rules maps a rule id to a severity ("off" disables it).
	Rules map[string]string `yaml:"rules,omitempty" json:"rules,omitempty"`
	// Data are repo-relative JSON/YAML data files loaded under data.
	Data []string `yaml:"data,omitempty" json:"data,omitempty"`
	// RequiredLabels feeds the built-in required-labels rule.
	RequiredLabels []string `yaml:"requiredLabels,omitempty" json:"requiredLabels,omitempty"`
	// Strict compiles the repo's Rego strictly (unused variables and
	// arguments, deprecated builtins are errors). Default true; false is
	// conftest's default (conftest test without --strict).
	Strict *bool `yaml:"strict,omitempty" json:"strict,omitempty"`
	// Combine lists packages evaluated once per environment over the input
	// conftest --combine gives: a list of {path, contents}, one entry per
	// object, path being the file it came from.
	Combine []string `yaml:"combine,omitempty" json:"combine,omitempty"`
}

// StrictRego reports whether the repo's Rego is compiled strictly.
func (p Policies) StrictRego() bool { return p.Strict == nil || *p.Strict }

// BuiltinSet is policies.builtin.
type BuiltinSet string

// The built-in library's sets.
const (
	BuiltinRecommended BuiltinSet = "recommended"
	BuiltinStrict      BuiltinSet = "strict"
	BuiltinOff         BuiltinSet = "off"
)

// Mode is the set in effect: recommended when unset.
func (b BuiltinSet) Mode() BuiltinSet {
	if b == "" {
		return BuiltinRecommended
	}
	return b
}

// UnmarshalYAML accepts recommended, strict, off, and the booleans of
// earlier versions (true: recommended, false: off).
func (b *BuiltinSet) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "on", "recommended":
			*b = BuiltinRecommended
			return nil
		case "false", "off":
			*b = BuiltinOff
			return nil
		case "strict":
			*b = BuiltinStrict
			return nil
		}
	}
	return fmt.Errorf("line %d: policies.builtin %q: want recommended, strict or off", n.Line, n.Value)
}

// Exception waives one rule for one resource, with a reason and an expiry.
type Exception struct {
	Rule      string `yaml:"rule" json:"rule"`
	Env       string `yaml:"env,omitempty" json:"env,omitempty"`
	Kind      string `yaml:"kind,omitempty" json:"kind,omitempty"`
	Name      string `yaml:"name,omitempty" json:"name,omitempty"`
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Reason    string `yaml:"reason" json:"reason"`
	Expires   string `yaml:"expires" json:"expires"`
	// Line is where the exception is declared.
	Line int `yaml:"-" json:"-"`
}

// ExpiresAt parses Expires (YYYY-MM-DD or RFC 3339).
func (e Exception) ExpiresAt() (time.Time, error) {
	if t, err := time.Parse("2006-01-02", e.Expires); err == nil {
		return t.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Parse(time.RFC3339, e.Expires)
}

// Diff configures the base and live diff.
type Diff struct {
	// Ignore lists field paths never shown (metadata.annotations.foo). Defaults cover noise.
	Ignore []string `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	// ContextLines for the unified diff (default 3).
	ContextLines *int `yaml:"contextLines,omitempty" json:"contextLines,omitempty"`
}

// Live configures the comparison with running clusters.
type Live struct {
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	// PruneSelector selects objects the environment owns in the cluster.
	PruneSelector string `yaml:"pruneSelector,omitempty" json:"pruneSelector,omitempty"`
	Timeout       string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Limits bounds what hostile input can cost. Each has a flag of the same
// name that wins over it (maxDocuments is --max-documents).
type Limits struct {
	MaxFileSize   string `yaml:"maxFileSize,omitempty" json:"maxFileSize,omitempty"`
	MaxDocuments  int    `yaml:"maxDocuments,omitempty" json:"maxDocuments,omitempty"`
	RenderTimeout string `yaml:"renderTimeout,omitempty" json:"renderTimeout,omitempty"`
	PolicyTimeout string `yaml:"policyTimeout,omitempty" json:"policyTimeout,omitempty"`
	RunTimeout    string `yaml:"runTimeout,omitempty" json:"runTimeout,omitempty"`
	// MaxYAMLDepth bounds nesting inside one YAML document.
	MaxYAMLDepth int `yaml:"maxYAMLDepth,omitempty" json:"maxYAMLDepth,omitempty"`
	// MaxYAMLNodes bounds one YAML document with its aliases expanded.
	MaxYAMLNodes int `yaml:"maxYAMLNodes,omitempty" json:"maxYAMLNodes,omitempty"`
	// MemoryLimit is the run's memory budget ("4GiB", "512MiB").
	MemoryLimit string `yaml:"memoryLimit,omitempty" json:"memoryLimit,omitempty"`
}

// ReportConfig tunes reports.
type ReportConfig struct {
	// FailOn is what fails the gate: the lowest severity (default error)
	// and which findings count (scope new, the default, or all).
	FailOn FailOn `yaml:"failOn,omitempty" json:"failOn,omitempty"`
}

// FailOn is report.failOn. It is written either as a severity
// ("failOn: warning", which keeps scope new) or as a mapping
// ("failOn: {severity: error, scope: all}").
type FailOn struct {
	// Severity is the lowest severity that fails the gate.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	// Scope is new (findings the base or the baseline file does not have)
	// or all (every finding, existing debt included).
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
}

// UnmarshalYAML reads both spellings strictly: an unknown key in the
// mapping is an error naming it, like everywhere else in gate.yaml.
func (f *FailOn) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		f.Severity = n.Value
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: report.failOn.%s: want a string", v.Line, k.Value)
			}
			switch k.Value {
			case "severity":
				f.Severity = v.Value
			case "scope":
				f.Scope = v.Value
			default:
				return fmt.Errorf("line %d: unknown key %q in report.failOn (want severity and scope)", k.Line, k.Value)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: report.failOn: want a severity (error) or {severity: error, scope: new}", n.Line)
}
