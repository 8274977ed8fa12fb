package render

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks/source"
)

// KustomizationFiles are the names kustomize accepts, in its order of preference.
var KustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Kustomization is one scanned kustomization file: what it references and
// where, so refusals and findings can name the line.
type Kustomization struct {
	Dir  string // repo-relative directory
	File string // repo-relative file
	Root *yaml.Node
	// Component is true for kind: Component (never an environment).
	Component bool
	// Bases are repo-relative directories of other kustomizations it uses
	// (resources, bases and components that are directories).
	Bases []string
	// Files are repo-relative files it reads directly (resources, patches,
	// generator inputs, ...).
	Files []string
	// Patches are the patches it applies, in order.
	Patches []PatchRef
	// HelmCharts lists the charts it inflates.
	HelmCharts []HelmChartRef
	// UsesOpenAPI is set when the kustomization sets openapi:, which makes
	// kustomize mutate process-wide schema state.
	UsesOpenAPI bool
	// Opaque are directories any file of which the render may read: the
	// scan cannot tell which (a plugin config kind it does not model, a
	// directory of plugin configs).
	Opaque []string
}

// PatchRef is one patch of a kustomization.
type PatchRef struct {
	File   string // repo-relative file, or the kustomization for inline patches
	Line   int
	Inline string
	// Target selector (kind/name), empty when the patch names its target itself.
	TargetKind, TargetName string
	// Target is the whole selector, nil when the patch names its target
	// itself.
	Target   *PatchTarget
	JSON6902 bool
}

// PatchTarget is a patch's target selector, as kustomize reads it: group,
// version, kind, name and namespace are anchored regular expressions;
// labelSelector and annotationSelector are label selectors.
type PatchTarget struct {
	Group, Version, Kind, Name, Namespace string
	LabelSelector, AnnotationSelector     string
}

// HelmChartRef is one helmCharts entry.
type HelmChartRef struct {
	Line int
	Node *yaml.Node
}

// RefError is a refused or broken reference in a kustomization.
type RefError struct {
	File string
	Line int
	Msg  string
	Rule string
}

func (e *RefError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

var remoteRe = regexp.MustCompile(`^(?i)([a-z][a-z0-9+.-]*://|git@|ssh:|[a-z][a-z0-9]*::|gh:|github\.com[/:]|gitlab\.com[/:]|bitbucket\.org[/:]|[a-z0-9.-]+\.[a-z]{2,}/.+\.git)`)

// IsRemote reports whether a kustomize reference would be fetched from the network.
func IsRemote(ref string) bool {
	r := strings.TrimSpace(ref)
	return remoteRe.MatchString(r) || strings.Contains(r, "?ref=") || strings.Contains(r, "?version=") ||
		strings.Contains(r, "?submodules=") || strings.Contains(r, "?timeout=") || strings.Contains(r, ".git//") || strings.Contains(r, "_git/")
}

// FindKustomization returns the kustomization file in dir, or "".
func FindKustomization(src source.Source, dir string) string {
	for _, n := range KustomizationFiles {
		p := path.Join(dir, n)
		if fi, err := src.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// ScanKustomization parses the kustomization in dir and checks every
// reference it makes: remote URLs, absolute paths, paths and symlinks leaving
// the repo, exec and container functions and legacy plugins are refused here,
// before kustomize is allowed to see the file.
func ScanKustomization(src source.Source, file string, lim Limits) (*Kustomization, error) {
	data, err := src.ReadFile(file)
	if err != nil {
		return nil, &RefError{File: file, Msg: fmt.Sprintf("read kustomization: %v", err), Rule: "render/read-error"}
	}
	docs, err := ParseDocs(file, data, lim)
	if err != nil {
		return nil, err
	}
	k := &Kustomization{Dir: path.Dir(file), File: file}
	if len(docs) == 0 {
		k.Root = &yaml.Node{Kind: yaml.MappingNode}
		return k, nil
	}
	if len(docs) > 1 {
		return nil, &RefError{File: file, Line: docs[1].Line, Msg: "a kustomization must be a single YAML document", Rule: "render/malformed-kustomization"}
	}
	root := docs[0].Node
	if root.Kind != yaml.MappingNode {
		return nil, &RefError{File: file, Line: root.Line, Msg: "a kustomization must be a YAML mapping", Rule: "render/malformed-kustomization"}
	}
	k.Root = root
	k.Component = scalar(root, "kind") == "Component"
	s := scanner{src: src, k: k, lim: lim}
	if err := s.scan(); err != nil {
		return nil, err
	}
	return k, nil
}

type scanner struct {
	src source.Source
	k   *Kustomization
	lim Limits
}

func (s *scanner) errf(n *yaml.Node, rule, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &RefError{File: s.k.File, Line: line, Msg: fmt.Sprintf(format, args...), Rule: rule}
}

// local resolves a reference relative to the kustomization and checks it.
// want is "file", "dir" or "any".
func (s *scanner) local(n *yaml.Node, field, ref, want string) (string, bool, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", false, s.errf(n, "render/malformed-kustomization", "%s: empty entry", field)
	}
	if IsRemote(ref) {
		return "", false, s.errf(n, "render/remote-base", "%s: remote reference %q refused: gate renders hermetically, vendor it into the repo", field, ref)
	}
	if strings.HasPrefix(ref, "/") || (len(ref) > 1 && ref[1] == ':') {
		return "", false, s.errf(n, "render/path-escape", "%s: absolute path %q refused: references must stay inside the repo", field, ref)
	}
	p, err := source.Join(s.k.Dir, ref)
	if err != nil {
		return "", false, s.errf(n, "render/path-escape", "%s: %q refused: %v", field, ref, unwrapEscape(err))
	}
	fi, err := s.src.Stat(p)
	if err != nil {
		if source.IsEscape(err) {
			return "", false, s.errf(n, "render/path-escape", "%s: %q refused: %v", field, ref, unwrapEscape(err))
		}
		var ce *source.ConfineError
		if errors.As(err, &ce) {
			return "", false, s.errf(n, "render/outside-closure", "%s: %q refused: %v", field, ref, ce)
		}
		var le *source.LimitError
		if errors.As(err, &le) {
			return "", false, s.errf(n, "render/limit", "%s: %v", field, le)
		}
		if errors.Is(err, fs.ErrNotExist) {
			if field == "resources" || field == "bases" || field == "components" {
				return "", false, s.errf(n, "render/missing-file", "%s: %q does not exist in the repo (kustomize would try to fetch it as a remote URL; gate refuses)", field, ref)
			}
			return "", false, s.errf(n, "render/missing-file", "%s: %q does not exist", field, ref)
		}
		return "", false, s.errf(n, "render/read-error", "%s: %q: %v", field, ref, err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		// A named pipe or a device would block or never end.
		return "", false, s.errf(n, "render/read-error", "%s: %q is not a regular file (%s)", field, ref, fi.Mode().Type())
	}
	switch want {
	case "file":
		if fi.IsDir() {
			return "", false, s.errf(n, "render/malformed-kustomization", "%s: %q is a directory, want a file", field, ref)
		}
	case "dir":
		if !fi.IsDir() {
			return "", false, s.errf(n, "render/malformed-kustomization", "%s: %q is a file, want a directory", field, ref)
		}
	}
	return p, fi.IsDir(), nil
}

func unwrapEscape(err error) error {
	var e *source.EscapeError
	if errors.As(err, &e) {
		return errors.New(e.Reason)
	}
	return err
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func (s *scanner) scan() error {
	root := s.k.Root
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if val.Kind == yaml.AliasNode {
			return s.errf(key, "render/malformed-kustomization", "%s: YAML aliases are not allowed in kustomizations", key.Value)
		}
		var err error
		switch key.Value {
		case "resources", "bases", "components":
			err = s.scanResources(key.Value, val)
		case "patchesStrategicMerge":
			err = s.scanSMP(val)
		case "patches", "patchesJson6902":
			err = s.scanPatches(key.Value, val)
		case "configMapGenerator", "secretGenerator":
			err = s.scanGenerators(key.Value, val)
		case "crds", "configurations":
			err = s.scanFileList(key.Value, val)
		case "generators", "transformers", "validators":
			err = s.scanPlugins(key.Value, val)
		case "replacements":
			for _, it := range seqItems(val) {
				if p := scalar(it, "path"); p != "" {
					f, _, e := s.local(child(it, "path"), key.Value, p, "file")
					if e != nil {
						return e
					}
					s.k.Files = append(s.k.Files, f)
				}
			}
		case "openapi":
			s.k.UsesOpenAPI = true
			if p := scalar(val, "path"); p != "" {
				f, _, e := s.local(child(val, "path"), "openapi.path", p, "file")
				if e != nil {
					return e
				}
				s.k.Files = append(s.k.Files, f)
			}
		case "helmCharts":
			for _, it := range seqItems(val) {
				s.k.HelmCharts = append(s.k.HelmCharts, HelmChartRef{Line: it.Line, Node: it})
			}
		case "helmChartInflationGenerator":
			return s.errf(key, "render/helm", "helmChartInflationGenerator is deprecated and runs helm; use helmCharts with a chart in the repo")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) scanResources(field string, val *yaml.Node) error {
	for _, it := range seqItems(val) {
		if it.Kind != yaml.ScalarNode {
			return s.errf(it, "render/malformed-kustomization", "%s: entries must be paths", field)
		}
		p, isDir, err := s.local(it, field, it.Value, "any")
		if err != nil {
			return err
		}
		if isDir {
			if FindKustomization(s.src, p) == "" {
				return s.errf(it, "render/missing-file", "%s: directory %q has no kustomization.yaml", field, it.Value)
			}
			s.k.Bases = append(s.k.Bases, p)
		} else {
			s.k.Files = append(s.k.Files, p)
		}
	}
	return nil
}

func (s *scanner) scanFileList(field string, val *yaml.Node) error {
	for _, it := range seqItems(val) {
		p, _, err := s.local(it, field, it.Value, "file")
		if err != nil {
			return err
		}
		s.k.Files = append(s.k.Files, p)
	}
	return nil
}

func (s *scanner) scanSMP(val *yaml.Node) error {
	for _, it := range seqItems(val) {
		v := strings.TrimSpace(it.Value)
		if strings.Contains(v, "\n") || strings.Contains(v, ":") && !strings.HasSuffix(v, ".yaml") && !strings.HasSuffix(v, ".yml") {
			s.k.Patches = append(s.k.Patches, PatchRef{File: s.k.File, Line: it.Line, Inline: it.Value})
			continue
		}
		p, _, err := s.local(it, "patchesStrategicMerge", v, "file")
		if err != nil {
			return err
		}
		s.k.Files = append(s.k.Files, p)
		s.k.Patches = append(s.k.Patches, PatchRef{File: p, Line: 1})
	}
	return nil
}

func (s *scanner) scanPatches(field string, val *yaml.Node) error {
	for _, it := range seqItems(val) {
		pr := PatchRef{File: s.k.File, Line: it.Line, JSON6902: field == "patchesJson6902"}
		if t := child(it, "target"); t != nil {
			pr.TargetKind = scalar(t, "kind")
			pr.TargetName = scalar(t, "name")
			pr.Target = &PatchTarget{Group: scalar(t, "group"), Version: scalar(t, "version"), Kind: pr.TargetKind, Name: pr.TargetName,
				Namespace: scalar(t, "namespace"), LabelSelector: scalar(t, "labelSelector"), AnnotationSelector: scalar(t, "annotationSelector")}
		}
		if p := scalar(it, "path"); p != "" {
			f, _, err := s.local(child(it, "path"), field, p, "file")
			if err != nil {
				return err
			}
			s.k.Files = append(s.k.Files, f)
			pr.File, pr.Line = f, 1
		} else if inl := scalar(it, "patch"); inl != "" {
			pr.Inline = inl
			if pn := child(it, "patch"); pn != nil {
				pr.Line = pn.Line
			}
		}
		s.k.Patches = append(s.k.Patches, pr)
	}
	return nil
}

func (s *scanner) scanGenerators(field string, val *yaml.Node) error {
	for _, it := range seqItems(val) {
		if err := s.scanGenerator(field, it); err != nil {
			return err
		}
	}
	return nil
}

// scanGenerator records the files one configMapGenerator or
// secretGenerator entry (or a builtin ConfigMapGenerator/SecretGenerator
// plugin config, which has the same fields) reads.
func (s *scanner) scanGenerator(field string, it *yaml.Node) error {
	{
		for _, key := range []string{"files", "envs"} {
			for _, f := range seqItems(child(it, key)) {
				ref := f.Value
				if i := strings.Index(ref, "="); i >= 0 {
					ref = ref[i+1:]
				}
				p, _, err := s.local(f, field+"."+key, ref, "file")
				if err != nil {
					return err
				}
				s.k.Files = append(s.k.Files, p)
			}
		}
		if e := child(it, "env"); e != nil && e.Value != "" {
			p, _, err := s.local(e, field+".env", e.Value, "file")
			if err != nil {
				return err
			}
			s.k.Files = append(s.k.Files, p)
		}
	}
	return nil
}

// fileless are the builtin plugin kinds whose configs name no file.
var fileless = map[string]bool{
	"AnnotationsTransformer": true, "LabelTransformer": true, "NamespaceTransformer": true,
	"PrefixSuffixTransformer": true, "PrefixTransformer": true, "SuffixTransformer": true,
	"ImageTagTransformer": true, "ReplicaCountTransformer": true, "HashTransformer": true,
	"SortOrderTransformer": true, "ValueAddTransformer": true, "IAMPolicyGenerator": true,
}

// scanBuiltin records the files a builtin plugin config reads (kustomize
// resolves them against the kustomization's directory): generator inputs,
// patch and replacement files. A kind it does not model makes the
// kustomization's directory opaque: the change selection must not miss a
// file such a plugin reads.
func (s *scanner) scanBuiltin(field string, d Doc) error {
	n := d.Node
	switch d.Kind {
	case "ConfigMapGenerator", "SecretGenerator":
		return s.scanGenerator(field, n)
	case "PatchTransformer", "PatchJson6902Transformer":
		if p := scalar(n, "path"); p != "" {
			f, _, err := s.local(child(n, "path"), field+".path", p, "file")
			if err != nil {
				return err
			}
			s.k.Files = append(s.k.Files, f)
		}
	case "PatchStrategicMergeTransformer":
		for _, it := range seqItems(child(n, "paths")) {
			f, _, err := s.local(it, field+".paths", it.Value, "file")
			if err != nil {
				return err
			}
			s.k.Files = append(s.k.Files, f)
		}
	case "ReplacementTransformer":
		for _, it := range seqItems(child(n, "replacements")) {
			if p := scalar(it, "path"); p != "" {
				f, _, err := s.local(child(it, "path"), field+".replacements.path", p, "file")
				if err != nil {
					return err
				}
				s.k.Files = append(s.k.Files, f)
			}
		}
	default:
		if !fileless[d.Kind] {
			s.k.Opaque = append(s.k.Opaque, s.k.Dir)
		}
	}
	return nil
}

// scanPlugins refuses exec and container KRM functions and legacy plugins:
// they run code, and the head of a pull request is data.
func (s *scanner) scanPlugins(field string, val *yaml.Node) error {
	for _, it := range seqItems(val) {
		var content string
		var line = it.Line
		// cfgFile is where the config's lines are: its own file, the
		// kustomization for a mapping, none for an inline string.
		cfgFile := s.k.File
		if it.Kind == yaml.ScalarNode && !strings.Contains(it.Value, "\n") {
			p, isDir, err := s.local(it, field, it.Value, "any")
			if err != nil {
				return err
			}
			if isDir {
				// A kustomization of plugin configs: the files those
				// configs name are read relative to this kustomization
				// (kustomize hands the plugins its loader), which the
				// directory's own scan (of resources) does not model.
				s.k.Bases = append(s.k.Bases, p)
				s.k.Opaque = append(s.k.Opaque, p, s.k.Dir)
				continue
			}
			b, err := s.src.ReadFile(p)
			if err != nil {
				return s.errf(it, "render/read-error", "%s: %v", field, err)
			}
			s.k.Files = append(s.k.Files, p)
			content = string(b)
			cfgFile = p
		} else {
			cfgFile = ""
			content = it.Value
			if it.Kind == yaml.MappingNode {
				out, _ := yaml.Marshal(it)
				content = string(out)
			}
		}
		if strings.Contains(content, "config.kubernetes.io/function") || strings.Contains(content, "exec:") && strings.Contains(content, "path:") {
			return &RefError{File: s.k.File, Line: line, Rule: "render/exec-function", Msg: fmt.Sprintf("%s: KRM functions (exec or container) run code and are refused: the head of a pull request is data", field)}
		}
		docs, err := ParseDocs(s.k.File, []byte(content), s.lim)
		if err == nil {
			for _, d := range docs {
				if d.APIVersion != "builtin" && !strings.HasPrefix(d.APIVersion, "builtin/") {
					return &RefError{File: s.k.File, Line: line, Rule: "render/plugin", Msg: fmt.Sprintf("%s: plugin %s %q is not a kustomize builtin: legacy and external plugins run code and are refused", field, d.APIVersion, d.Kind)}
				}
				if it.Kind == yaml.MappingNode {
					d.Node, cfgFile = it, s.k.File // the lines of the kustomization
				}
				if err := s.scanBuiltin(field, d); err != nil {
					var re *RefError
					if errors.As(err, &re) {
						if cfgFile == "" {
							re.Line = line
						} else {
							re.File = cfgFile
						}
					}
					return err
				}
			}
		}
	}
	return nil
}
