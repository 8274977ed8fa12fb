// Package config reads gate.yaml, the ops repo's declaration of its
// environments and of how gate judges them. Decoding is strict: an unknown
// key is an error naming the key and its line, because a typo in a gate's
// config must never silently switch a check off.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
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

// Error is a config problem with its line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var yamlLineRe = regexp.MustCompile(`line (\d+): (.*)`)

// Parse decodes gate.yaml strictly. file names it in errors.
func Parse(file string, data []byte) (*Config, error) {
	var cfg Config
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErr(file, data, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null" {
		// An empty document ("---", "~") declares nothing, like an empty file.
		cfg.File = file
		return &cfg, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErr(file, data, err)
	}
	cfg.File = file
	cfg.Lines = map[string]int{}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: doc.Line, Msg: "gate.yaml must be a mapping"}
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		cfg.Lines[k.Value] = k.Line
		if v.Kind == yaml.SequenceNode {
			for j, item := range v.Content {
				cfg.Lines[fmt.Sprintf("%s[%d]", k.Value, j)] = item.Line
			}
		}
	}
	for i := range cfg.Exceptions {
		cfg.Exceptions[i].Line = cfg.Lines[fmt.Sprintf("exceptions[%d]", i)]
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func yamlErr(file string, data []byte, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimSpace(msg)
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscanf(m[1], "%d", &line)
		return &Error{File: file, Line: line, Msg: rewriteMsg(m[2])}
	}
	return &Error{File: file, Line: errLine(data, err.Error()), Msg: msg}
}

// errLine finds the line of a YAML error the parser reported without one
// (invalid bytes, unknown anchors, anything on the first line: yaml.v3
// leaves out "line 1"): the shortest prefix of whole lines that fails with
// the same error. Each probe stops at the error. 0 when none does.
func errLine(data []byte, msg string) int {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool {
		err := yaml.Unmarshal(data[:ends[k-1]], &yaml.Node{})
		return err != nil && err.Error() == msg
	}
	if !fails(len(ends)) {
		return 0
	}
	lo, hi := 1, len(ends)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

var unknownFieldRe = regexp.MustCompile(`field (\S+) not found in type config\.(\w+)`)

func rewriteMsg(m string) string {
	if s := unknownFieldRe.FindStringSubmatch(m); s != nil {
		return fmt.Sprintf("unknown key %q in %s (see `gate config schema` for the allowed keys)", s[1], sectionName(s[2]))
	}
	return m
}

func sectionName(t string) string {
	switch t {
	case "Config":
		return "gate.yaml"
	case "Env":
		return "an environment"
	case "ReportConfig":
		return "report"
	}
	return strings.ToLower(t[:1]) + t[1:]
}

var chartURLRe = regexp.MustCompile(`^(?i)(https?|oci)://[^/\s]+(/\S*)?$`)

var envNameRe = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,62})$`)

func (c *Config) validate() error {
	if c.APIVersion != "" && c.APIVersion != "gate/v1" {
		return &Error{File: c.File, Line: c.Lines["apiVersion"], Msg: fmt.Sprintf("apiVersion %q is not supported (want gate/v1)", c.APIVersion)}
	}
	seen := map[string]bool{}
	for i, e := range c.Environments {
		line := c.Lines[fmt.Sprintf("environments[%d]", i)]
		if e.Name == "" {
			return &Error{File: c.File, Line: line, Msg: "environment needs a name"}
		}
		if !envNameRe.MatchString(e.Name) {
			return &Error{File: c.File, Line: line, Msg: fmt.Sprintf("environment name %q: use letters, digits, '.', '_' and '-' (at most 63)", e.Name)}
		}
		if seen[e.Name] {
			return &Error{File: c.File, Line: line, Msg: fmt.Sprintf("environment %q declared twice", e.Name)}
		}
		seen[e.Name] = true
		if e.Path == "" {
			return &Error{File: c.File, Line: line, Msg: fmt.Sprintf("environment %q needs a path", e.Name)}
		}
	}
	if s := c.Report.FailOn.Severity; s != "" {
		if _, err := checks.ParseSeverity(s); err != nil {
			return &Error{File: c.File, Line: c.Lines["report"], Msg: "report.failOn: " + err.Error()}
		}
	}
	if s := c.Report.FailOn.Scope; s != "" {
		if _, err := checks.ParseScope(s); err != nil {
			return &Error{File: c.File, Line: c.Lines["report"], Msg: "report.failOn.scope: " + err.Error()}
		}
	}
	for i, a := range c.Charts.Allow {
		if !chartURLRe.MatchString(a) {
			return &Error{File: c.File, Line: c.Lines["charts"], Msg: fmt.Sprintf("charts.allow[%d] %q: want an https://, http:// or oci:// URL with a host", i, a)}
		}
	}
	for p, m := range c.Charts.Mirrors {
		if !chartURLRe.MatchString(p) || !chartURLRe.MatchString(m) {
			return &Error{File: c.File, Line: c.Lines["charts"], Msg: fmt.Sprintf("charts.mirrors %q: %q: both must be https://, http:// or oci:// URLs with a host", p, m)}
		}
		if strings.HasPrefix(normURL(p), "oci://") != strings.HasPrefix(normURL(m), "oci://") {
			return &Error{File: c.File, Line: c.Lines["charts"], Msg: fmt.Sprintf("charts.mirrors %q: %q: an OCI registry mirrors to an OCI registry, a Helm repository to a Helm repository", p, m)}
		}
	}
	switch c.ArgoCD.EnvironmentPer {
	case "", "application", "cluster":
	default:
		return &Error{File: c.File, Line: c.Lines["argocd"], Msg: fmt.Sprintf("argocd.environmentPer %q: want application or cluster", c.ArgoCD.EnvironmentPer)}
	}
	if err := c.validateKinds(); err != nil {
		return err
	}
	for i, x := range c.Exceptions {
		line := c.Lines[fmt.Sprintf("exceptions[%d]", i)]
		if x.Rule == "" || x.Reason == "" || x.Expires == "" {
			return &Error{File: c.File, Line: line, Msg: "an exception needs rule, reason and expires"}
		}
		if _, err := x.ExpiresAt(); err != nil {
			return &Error{File: c.File, Line: line, Msg: fmt.Sprintf("exception expires %q: want YYYY-MM-DD", x.Expires)}
		}
	}
	return nil
}

// kindRe is one entry of schemas.skip or schemas.reject: a kind, or an
// apiVersion and kind (v1/ConfigMap, apps/v1/Deployment).
var kindRe = regexp.MustCompile(`^([a-z0-9.-]+/)?([a-zA-Z0-9]+/)?[a-zA-Z][a-zA-Z0-9]*$`)

// validateKinds checks schemas.skip and schemas.reject: kubeconform takes
// them as comma-separated flags, and a pasted "Deployment,Service" would
// otherwise match nothing and silently skip or reject nothing.
func (c *Config) validateKinds() error {
	skipped := map[string]bool{}
	for _, key := range []string{"skip", "reject"} {
		list := c.Schemas.Skip
		if key == "reject" {
			list = c.Schemas.Reject
		}
		for i, k := range list {
			if !kindRe.MatchString(k) {
				return &Error{File: c.File, Line: c.Lines["schemas"], Msg: fmt.Sprintf("schemas.%s[%d] %q: want one kind (Deployment) or apiVersion/Kind (apps/v1/Deployment) per item", key, i, k)}
			}
			if key == "skip" {
				skipped[k] = true
			} else if skipped[k] {
				return &Error{File: c.File, Line: c.Lines["schemas"], Msg: fmt.Sprintf("schemas.reject[%d] %q is also in schemas.skip: a skipped kind is never rejected (kubeconform skips first); remove one", i, k)}
			}
		}
	}
	return nil
}

// Load reads gate.yaml from fsys (a Source); a missing file yields an empty
// config and found=false.
func Load(fsys fs.ReadFileFS, name string) (cfg *Config, found bool, err error) {
	if name == "" {
		name = FileName
	}
	data, err := fsys.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", name, err)
	}
	cfg, err = Parse(name, data)
	if err != nil {
		return nil, true, err
	}
	return cfg, true, nil
}
