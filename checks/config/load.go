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

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
)

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
