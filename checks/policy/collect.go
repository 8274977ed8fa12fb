package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/policies"
)

// DefaultDir is the ops repo's policy directory when gate.yaml names none,
// conftest's convention.
const DefaultDir = "policy"

// policyFile is one file a policy set is built from.
type policyFile struct {
	// path is shown in findings: repo-relative, or prefixed by the --policy
	// directory, or by policies.Dir for the built-in library.
	path string
	data []byte
	// v0 forces Rego v0 (a bundle whose .manifest says rego_version 0).
	v0 bool
}

// fileSet is everything Load collected, by role.
type fileSet struct {
	builtin    []policyFile // built-in rules and lib
	lib        []policyFile // built-in lib only, compiled with user policies too
	user       []policyFile // user .rego (no tests)
	gatekeeper []policyFile // YAML with ConstraintTemplates or constraints
	dataFiles  []policyFile
	data       map[string]any
}

// all returns the user-controlled files (what a pull request can change).
func (fs *fileSet) all() []policyFile {
	var out []policyFile
	out = append(out, fs.user...)
	out = append(out, fs.gatekeeper...)
	out = append(out, fs.dataFiles...)
	return out
}

func loadFinding(file string, line int, msg string) checks.Finding {
	return checks.Finding{Check: Name, RuleID: RuleLoad, Severity: checks.SeverityError, Message: msg, Origin: checks.Origin{File: file, Line: line}}
}

// isGatekeeperYAML is a cheap test before parsing a YAML file.
func isGatekeeperYAML(b []byte) bool {
	return bytes.Contains(b, []byte("ConstraintTemplate")) || bytes.Contains(b, []byte("constraints.gatekeeper.sh"))
}

func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")
}

// PolicyDirs returns the repo-relative policy directories of a config: the
// ones gate.yaml names, else policy/ when it exists.
func PolicyDirs(src source.Source, cfg *config.Config) []string {
	if len(cfg.Policies.Paths) > 0 {
		return cfg.Policies.Paths
	}
	if fi, err := src.Stat(DefaultDir); err == nil && fi.IsDir() {
		return []string{DefaultDir}
	}
	return nil
}

// collect gathers the policy files of the built-in library, the trusted
// source's policy directories and the extra directories.
func collect(trusted source.Source, cfg *config.Config, dirs []Dir) (*fileSet, []checks.Finding) {
	set := &fileSet{data: map[string]any{}}
	var finds []checks.Finding
	if cfg.Policies.Builtin.Mode() != config.BuiltinOff {
		for _, f := range policies.Policies() {
			pf := policyFile{path: policies.Dir + "/" + f.Path, data: f.Data}
			set.builtin = append(set.builtin, pf)
			if strings.HasPrefix(f.Path, "lib/") {
				set.lib = append(set.lib, pf)
			}
		}
	} else {
		for _, f := range policies.Policies() {
			if strings.HasPrefix(f.Path, "lib/") {
				set.lib = append(set.lib, policyFile{path: policies.Dir + "/" + f.Path, data: f.Data})
			}
		}
	}
	if trusted != nil {
		// A path that leaves the repo is a finding on gate.yaml, not on
		// a file outside the repo nobody can annotate.
		inRepo := func(key, p string) bool {
			if _, err := source.Clean(p); err != nil {
				var ee *source.EscapeError
				if errors.As(err, &ee) {
					err = errors.New(ee.Reason)
				}
				finds = append(finds, configFinding(cfg, "policies", fmt.Sprintf("%s %q refused: %v", key, p, err)))
				return false
			}
			return true
		}
		for _, d := range PolicyDirs(trusted, cfg) {
			if inRepo("policies.paths", d) {
				finds = append(finds, walkDir(set, trusted, d, "", cfg)...)
			}
		}
		for _, d := range cfg.Policies.Data {
			if inRepo("policies.data", d) {
				finds = append(finds, loadData(set, trusted, d, "")...)
			}
		}
	}
	for _, d := range dirs {
		p := d.Path
		if p == "" {
			p = "."
		}
		finds = append(finds, walkDir(set, d.Src, p, d.Name, cfg)...)
	}
	return set, finds
}

func display(prefix, p string) string {
	if prefix == "" {
		return p
	}
	return path.Join(prefix, p)
}

// walkDir collects .rego files, Gatekeeper YAML and data.json/data.yaml
// (OPA's bundle convention) under dir.
func walkDir(set *fileSet, src source.Source, dir, prefix string, cfg *config.Config) []checks.Finding {
	var finds []checks.Finding
	fi, err := src.Stat(dir)
	if err == nil && !fi.IsDir() && IsBundle(dir) {
		return readBundle(set, src, dir, prefix)
	}
	if err != nil || !fi.IsDir() {
		msg := fmt.Sprintf("policy directory %q does not exist", display(prefix, dir))
		if prefix == "" {
			f := configFinding(cfg, "policies", msg+" (policies.paths in gate.yaml)")
			return []checks.Finding{f}
		}
		return []checks.Finding{loadFinding(display(prefix, dir), 0, msg)}
	}
	err = source.Walk(src, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			finds = append(finds, loadFinding(display(prefix, p), 0, fmt.Sprintf("cannot read policy file: %v", err)))
			return nil
		}
		if d.IsDir() {
			return nil
		}
		base := path.Base(p)
		switch {
		case strings.HasSuffix(p, "_test.rego"):
			return nil
		case strings.HasSuffix(p, ".rego"):
		case base == "data.json" || base == "data.yaml" || base == "data.yml":
		case isYAML(p):
		default:
			return nil
		}
		b, err := src.ReadFile(p)
		if err != nil {
			finds = append(finds, loadFinding(display(prefix, p), 0, fmt.Sprintf("cannot read policy file: %v", err)))
			return nil
		}
		pf := policyFile{path: display(prefix, p), data: b}
		switch {
		case strings.HasSuffix(p, ".rego"):
			set.user = append(set.user, pf)
		case base == "data.json" || base == "data.yaml" || base == "data.yml":
			rel := strings.TrimPrefix(path.Dir(p), strings.TrimSuffix(dir, "/"))
			finds = append(finds, addData(set, pf, strings.Trim(rel, "/"))...)
		case isGatekeeperYAML(b):
			set.gatekeeper = append(set.gatekeeper, pf)
		}
		return nil
	})
	if err != nil {
		finds = append(finds, loadFinding(display(prefix, dir), 0, fmt.Sprintf("cannot list policy directory: %v", err)))
	}
	return finds
}

// loadData loads a data file, or every JSON/YAML file of a directory, the
// way opa -d does: a directory's subdirectories become nested keys.
func loadData(set *fileSet, src source.Source, p, prefix string) []checks.Finding {
	fi, err := src.Stat(p)
	if err != nil {
		return []checks.Finding{loadFinding(display(prefix, p), 0, fmt.Sprintf("policy data %q: %v", p, err))}
	}
	if !fi.IsDir() {
		b, err := src.ReadFile(p)
		if err != nil {
			return []checks.Finding{loadFinding(display(prefix, p), 0, fmt.Sprintf("policy data: %v", err))}
		}
		return addData(set, policyFile{path: display(prefix, p), data: b}, "")
	}
	var finds []checks.Finding
	_ = source.Walk(src, p, func(q string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(isYAML(q) || strings.HasSuffix(q, ".json")) {
			return nil
		}
		b, err := src.ReadFile(q)
		if err != nil {
			finds = append(finds, loadFinding(display(prefix, q), 0, fmt.Sprintf("policy data: %v", err)))
			return nil
		}
		rel := strings.Trim(strings.TrimPrefix(path.Dir(q), p), "/")
		if p == "." {
			rel = path.Dir(q)
			if rel == "." {
				rel = ""
			}
		}
		finds = append(finds, addData(set, policyFile{path: display(prefix, q), data: b}, rel)...)
		return nil
	})
	return finds
}

// addData merges one data document under the dotted location of rel.
func addData(set *fileSet, pf policyFile, rel string) []checks.Finding {
	var doc any
	if err := sigsyaml.Unmarshal(pf.data, &doc); err != nil {
		return []checks.Finding{loadFinding(pf.path, 0, fmt.Sprintf("policy data is not valid JSON or YAML: %v", err))}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return []checks.Finding{loadFinding(pf.path, 0, "policy data must be an object at the top level")}
	}
	if _, ok := obj["gate"]; ok && rel == "" {
		return []checks.Finding{loadFinding(pf.path, 0, "policy data may not define data.gate: gate sets it for every environment")}
	}
	set.dataFiles = append(set.dataFiles, pf)
	target := set.data
	if rel != "" && rel != "." {
		for _, part := range strings.Split(rel, "/") {
			next, ok := target[part].(map[string]any)
			if !ok {
				next = map[string]any{}
				target[part] = next
			}
			target = next
		}
	}
	if err := merge(target, obj); err != nil {
		return []checks.Finding{loadFinding(pf.path, 0, err.Error())}
	}
	return nil
}

func merge(dst, src map[string]any) error {
	for k, v := range src {
		if cur, ok := dst[k]; ok {
			a, aok := cur.(map[string]any)
			b, bok := v.(map[string]any)
			if !aok || !bok {
				return errors.New("policy data conflicts with another data file at key " + k)
			}
			if err := merge(a, b); err != nil {
				return err
			}
			continue
		}
		dst[k] = v
	}
	return nil
}
