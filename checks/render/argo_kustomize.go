package render

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// renderArgoKustomize builds a kustomization with the Application's
// overrides applied the way Argo CD's repo-server applies them: it runs
// `kustomize edit` on a copy of the source (set nameprefix, namesuffix,
// image, replicas; add label, annotation; set namespace; add component)
// and appends the patches to the kustomization, then builds. gate makes
// the same edits to the kustomization file and builds it in process.
func (r *Renderer) renderArgoKustomize(ctx context.Context, src source.Source, app *argoApp, s argoSource, at []string, dir string, cfg argoConfig, res *Result) error {
	kfile := FindKustomization(src, dir)
	if kfile == "" {
		return &RefError{File: app.File, Line: app.lineOf(append(at, "path")), Rule: "render/missing-file", Msg: fmt.Sprintf("source %s sets kustomize but has no kustomization.yaml", dir)}
	}
	rsrc := src
	var remap func(*locInfo)
	if k := s.Kustomize; k != nil && argoKustomizeEdits(k) {
		b, err := src.ReadFile(kfile)
		if err != nil {
			return fmt.Errorf("read %s: %w", kfile, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return &ParseError{File: kfile, Line: 1, Msg: "kustomization is not a YAML mapping"}
		}
		root := deepCopy(doc.Content[0])
		kat := append(append([]string{}, at...), "kustomize")
		if err := argoEditKustomization(src, dir, root, k); err != nil {
			return &RefError{File: app.File, Line: app.lineOf(kat), Rule: ruleArgo, Msg: err.Error()}
		}
		out, err := yaml.Marshal(root)
		if err != nil {
			return fmt.Errorf("rewrite %s: %w", kfile, err)
		}
		rsrc = &overlaySource{Source: src, files: map[string][]byte{kfile: out}}
		remap = appPatchRemap(app, kat, kfile, out, len(k.Patches))
	}
	env := checks.Env{Name: res.Env.Name, Path: dir, Kind: KindKustomize, KubernetesVersion: cfg.kubeVersion}
	sub := newResult(env, rsrc, r.opts.Limits)
	// Under RenderAll the bases Applications share are built once (memo.go).
	err := r.renderKustomize(ctx, cfg.memo, rsrc, env, sub)
	res.Files = append(res.Files, sub.Files...)
	res.Findings = append(res.Findings, sub.Findings...)
	if err != nil {
		return err
	}
	for _, rs := range sub.Resources {
		if remap != nil && sub.loc[rs] != nil {
			remap(sub.loc[rs])
			rs.Patches = sub.loc[rs].patchOrigins()
		}
		res.Resources = append(res.Resources, rs)
		res.loc[rs] = sub.loc[rs]
	}
	return nil
}

// appPatchRemap moves the locations of the patches an Application added
// to the kustomization (the last n entries of patches in the rewritten
// file) onto the Application's own lines: that is where the author
// changes them.
func appPatchRemap(app *argoApp, kat []string, kfile string, rewritten []byte, n int) func(*locInfo) {
	var doc yaml.Node
	if yaml.Unmarshal(rewritten, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	items := seqItems(child(doc.Content[0], "patches"))
	if n > len(items) {
		return nil
	}
	items = items[len(items)-n:]
	return func(info *locInfo) {
		for pi := range info.Patches {
			p := &info.Patches[pi]
			if p.File != kfile {
				continue
			}
			for j, it := range items {
				// Inline patches are offset from their entry's line.
				if it.Line != p.Line && it.Line != p.Offset {
					continue
				}
				at := append(append([]string{}, kat...), "patches", strconv.Itoa(j))
				newOffset := app.blockOffset(append(at, "patch"))
				p.File, p.Line = app.File, app.lineOf(at)
				if p.Inline != "" && len(p.Ops) == 0 && newOffset > 0 {
					p.Line = app.lineOf(append(at, "patch"))
				}
				for oi := range p.Ops {
					if newOffset > 0 {
						p.Ops[oi].Line += newOffset - p.Offset
					} else {
						p.Ops[oi].Line = p.Line
					}
				}
				if p.Inline != "" && newOffset > 0 {
					p.Offset = newOffset
				} else if p.Inline != "" {
					p.Inline, p.Doc = "", -1
				}
			}
		}
	}
}

func argoKustomizeEdits(k *argoKustomize) bool {
	return k.NamePrefix != "" || k.NameSuffix != "" || len(k.Images) > 0 || len(k.Replicas) > 0 ||
		len(k.CommonLabels) > 0 || len(k.CommonAnnotations) > 0 || k.Namespace != "" || len(k.Patches) > 0 || len(k.Components) > 0
}

// argoEditKustomization makes `kustomize edit`'s changes to a kustomization.
func argoEditKustomization(src source.Source, dir string, root *yaml.Node, k *argoKustomize) error {
	if k.NamePrefix != "" {
		setScalar(root, "namePrefix", k.NamePrefix)
	}
	if k.NameSuffix != "" {
		setScalar(root, "nameSuffix", k.NameSuffix)
	}
	for _, img := range k.Images {
		if err := setImage(root, img); err != nil {
			return err
		}
	}
	for _, rp := range k.Replicas {
		n, err := replicaCount(rp.Count)
		if err != nil {
			return fmt.Errorf("replicas %s: %v", rp.Name, err)
		}
		setNamed(root, "replicas", rp.Name, func(m *yaml.Node) {
			setScalar(m, "name", rp.Name)
			setInt(m, "count", n)
		})
	}
	if len(k.CommonLabels) > 0 {
		if k.LabelWithoutSelector {
			seq := ensure(root, "labels", yaml.SequenceNode)
			entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			pairs := ensure(entry, "pairs", yaml.MappingNode)
			for _, key := range sortedKeys(k.CommonLabels) {
				setScalar(pairs, key, k.CommonLabels[key])
			}
			seq.Content = append(seq.Content, entry)
		} else {
			m := ensure(root, "commonLabels", yaml.MappingNode)
			for _, key := range sortedKeys(k.CommonLabels) {
				setScalar(m, key, k.CommonLabels[key])
			}
		}
	}
	if len(k.CommonAnnotations) > 0 {
		m := ensure(root, "commonAnnotations", yaml.MappingNode)
		for _, key := range sortedKeys(k.CommonAnnotations) {
			setScalar(m, key, k.CommonAnnotations[key])
		}
	}
	if k.Namespace != "" {
		setScalar(root, "namespace", k.Namespace)
	}
	if len(k.Patches) > 0 {
		seq := ensure(root, "patches", yaml.SequenceNode)
		for _, p := range k.Patches {
			var n yaml.Node
			if err := n.Encode(p); err != nil {
				return fmt.Errorf("patches: %v", err)
			}
			seq.Content = append(seq.Content, &n)
		}
	}
	for _, c := range k.Components {
		p, err := source.Join(dir, c)
		if err != nil || IsRemote(c) {
			return fmt.Errorf("component %q must be a directory inside the repo", c)
		}
		if _, err := src.Stat(p); err != nil {
			if k.IgnoreMissingComponents {
				continue
			}
			return fmt.Errorf("component %s does not exist", c)
		}
		seq := ensure(root, "components", yaml.SequenceNode)
		seq.Content = append(seq.Content, strNode(c))
	}
	return nil
}

// setImage is `kustomize edit set image [name=]image[:tag|@digest]`: the
// entry of that name is updated (a new tag drops a digest and the other way
// round), or added.
func setImage(root *yaml.Node, spec string) error {
	name, ref, hasName := strings.Cut(spec, "=")
	if !hasName {
		ref = spec
	}
	img, tag, digest := splitImage(ref)
	if !hasName {
		name = img
	}
	if name == "" || img == "" {
		return fmt.Errorf("image %q: want [name=]image[:tag|@digest]", spec)
	}
	setNamed(root, "images", name, func(m *yaml.Node) {
		setScalar(m, "name", name)
		if img != name {
			setScalar(m, "newName", img)
		}
		switch {
		case digest != "":
			removeKey(m, "newTag")
			setScalar(m, "digest", digest)
		case tag != "":
			removeKey(m, "digest")
			setScalar(m, "newTag", tag)
		}
	})
	return nil
}

// splitImage splits registry:5000/a/b:tag@digest into name, tag, digest.
func splitImage(ref string) (name, tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	return ref, tag, digest
}

func replicaCount(v any) (int64, error) {
	switch c := v.(type) {
	case int64:
		return c, nil
	case float64:
		return int64(c), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(c), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("count %q is not a number", c)
		}
		return n, nil
	}
	return 0, fmt.Errorf("count %v is not a number", v)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strNode(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func setScalar(m *yaml.Node, key, v string) {
	if c := child(m, key); c != nil {
		*c = *strNode(v)
		return
	}
	m.Content = append(m.Content, strNode(key), strNode(v))
}

func setInt(m *yaml.Node, key string, v int64) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
	if c := child(m, key); c != nil {
		*c = *n
		return
	}
	m.Content = append(m.Content, strNode(key), n)
}

// ensure returns the value of key, creating it as an empty node of kind
// (an existing value of another kind is replaced).
func ensure(m *yaml.Node, key string, kind yaml.Kind) *yaml.Node {
	if c := child(m, key); c != nil && c.Kind == kind {
		return c
	}
	tag := "!!map"
	if kind == yaml.SequenceNode {
		tag = "!!seq"
	}
	n := &yaml.Node{Kind: kind, Tag: tag}
	if c := child(m, key); c != nil {
		*c = *n
		return c
	}
	m.Content = append(m.Content, strNode(key), n)
	return n
}

// setNamed edits the entry of a list of mappings whose name is name, adding
// it when there is none.
func setNamed(root *yaml.Node, key, name string, edit func(*yaml.Node)) {
	seq := ensure(root, key, yaml.SequenceNode)
	for _, it := range seq.Content {
		if scalar(it, "name") == name {
			edit(it)
			return
		}
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	edit(m)
	seq.Content = append(seq.Content, m)
}

// overlaySource is a Source with some files' content replaced: the
// kustomization Argo CD would have edited.
type overlaySource struct {
	source.Source
	files map[string][]byte
}

func (o *overlaySource) ReadFile(name string) ([]byte, error) {
	if b, ok := o.files[name]; ok {
		return b, nil
	}
	return o.Source.ReadFile(name)
}

func (o *overlaySource) Open(name string) (fs.File, error) {
	if b, ok := o.files[name]; ok {
		return source.NewFile(name, b), nil
	}
	return o.Source.Open(name)
}

func (o *overlaySource) Stat(name string) (fs.FileInfo, error) {
	if b, ok := o.files[name]; ok {
		return source.NewFileInfo(path.Base(name), int64(len(b)), false), nil
	}
	return o.Source.Stat(name)
}
