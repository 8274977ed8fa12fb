package render

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
)

// build runs kustomize on dir the way kustomize-controller does: a
// kustomization.yaml is generated where the directory has none, and the
// Kustomization's own fields are written into it.
func (w *fluxWalk) build(ks *fluxKustomization, decl *checks.Resource, dir string) ([]*checks.Resource, bool) {
	ov := &overlaySrc{Source: w.src, files: map[string][]byte{}}
	kfile := FindKustomization(w.src, dir)
	byLine, ok := w.writeKustomization(ks, decl, dir, kfile, ov)
	if !ok {
		return nil, false
	}
	subEnv := checks.Env{Name: w.env.Name, Path: dir, Kind: KindKustomize, KubernetesVersion: w.env.KubernetesVersion}
	sub := newResult(subEnv, ov, w.r.opts.Limits)
	// Under RenderAll the app overlays every cluster includes are built
	// once (memo.go), as for kustomize environments.
	err := w.r.renderKustomize(w.ctx, w.memo, ov, subEnv, sub)
	for _, f := range sub.Files {
		if _, v := ov.files[f]; !v {
			w.files[f] = true
			w.res.Files = appendUniq(w.res.Files, f)
		}
	}
	if kfile != "" {
		w.files[kfile] = true
	}
	if err != nil {
		f := w.r.errFinding(w.env, err)
		if _, v := ov.files[f.Origin.File]; v || f.Origin.File == "" {
			// A problem in what gate wrote for Flux belongs to the Kustomization.
			f.Origin = w.at(decl, "spec")
			if decl == nil {
				f.Origin = checks.Origin{File: dir}
			}
		}
		w.res.Findings = append(w.res.Findings, f)
		return nil, false
	}
	for _, o := range sub.Resources {
		info := sub.loc[o]
		if info != nil {
			w.remapPatches(info, decl, ov, byLine)
			for _, kf := range info.Chain {
				if _, v := ov.files[kf]; v {
					// The chain names a kustomization only this build
					// had: locate through the patches, as before chains.
					info.Chain = nil
					break
				}
			}
		}
		w.res.loc[o] = info
	}
	return sub.Resources, true
}

// writeKustomization writes into ov the kustomization Flux would build in
// dir: generated when dir has none (kfile ""), or kfile with the
// Kustomization's edits (patches, images, namespace ...); byLine maps the
// written patches' lines to the Kustomization's.
func (w *fluxWalk) writeKustomization(ks *fluxKustomization, decl *checks.Resource, dir, kfile string, ov *overlaySrc) (byLine map[int]int, ok bool) {
	var root *yaml.Node
	virtual := ""
	if kfile == "" {
		virtual = path.Join(dir, "kustomization.yaml")
		var err error
		root, err = w.generate(dir)
		if err != nil {
			w.finding(checks.SeverityError, "render/flux", checks.Origin{File: dir}, "generate the kustomization Flux would build for %s: %v", dir, err)
			return nil, false
		}
		for _, n := range KustomizationFiles {
			w.files[path.Join(dir, n)] = true
		}
	} else if fluxEdits(ks) {
		virtual = kfile
		b, err := w.src.ReadFile(kfile)
		if err != nil {
			w.finding(checks.SeverityError, "render/read-error", checks.Origin{File: kfile}, "%v", err)
			return nil, false
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
			w.finding(checks.SeverityError, "render/invalid-yaml", checks.Origin{File: kfile}, "kustomization is not valid YAML")
			return nil, false
		}
		root = doc.Content[0]
	}
	if root != nil {
		if err := editKustomization(root, ks); err != nil {
			w.finding(checks.SeverityError, "render/flux", w.at(decl, "spec"), "Kustomization %s: %v", ks.Metadata.Name, err)
			return nil, false
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(root); err != nil {
			w.finding(checks.SeverityError, "render/flux", w.at(decl, "spec"), "Kustomization %s: write kustomization: %v", ks.Metadata.Name, err)
			return nil, false
		}
		ov.files[virtual] = buf.Bytes()
		byLine = fluxPatchLines(buf.Bytes(), len(ks.Spec.Patches))
	}
	return byLine, true
}

func appendUniq(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return list
	}
	list = append(list, "")
	copy(list[i+1:], list[i:])
	list[i] = s
	return list
}

// remapPatches points patches that came from the Flux Kustomization's
// spec.patches (written into the generated kustomization) at their lines
// in the Kustomization object. byLine maps the line of a patch in the
// generated kustomization to its index in spec.patches.
func (w *fluxWalk) remapPatches(info *locInfo, decl *checks.Resource, ov *overlaySrc, byLine map[int]int) {
	for i := range info.Patches {
		p := &info.Patches[i]
		if _, v := ov.files[p.File]; !v {
			continue
		}
		if j, ok := byLine[p.Line]; ok && decl != nil {
			o := w.at(decl, "spec", "patches", fmt.Sprint(j), "patch")
			old := p.Offset
			p.File, p.Line, p.Offset = o.File, o.Line, o.Line
			for k := range p.Ops {
				p.Ops[k].Line += p.Offset - old
			}
			continue
		}
		o := w.at(decl, "spec")
		p.File, p.Line, p.Offset, p.Ops, p.Inline, p.Doc = o.File, o.Line, 0, nil, "", -1
	}
}

// fluxPatchLines maps the line of each patch Flux appended to a generated
// kustomization (its `patch:` key) to its index in spec.patches.
func fluxPatchLines(kustomization []byte, n int) map[int]int {
	out := map[int]int{}
	var doc yaml.Node
	if n == 0 || yaml.Unmarshal(kustomization, &doc) != nil || len(doc.Content) == 0 {
		return out
	}
	items := seqItems(child(doc.Content[0], "patches"))
	if len(items) < n {
		return out
	}
	for j, it := range items[len(items)-n:] {
		if pn := child(it, "patch"); pn != nil {
			out[pn.Line] = j
		}
	}
	return out
}

// fluxEdits reports whether a Kustomization changes its path's kustomization.
func fluxEdits(ks *fluxKustomization) bool {
	s := ks.Spec
	return s.TargetNamespace != "" || s.NamePrefix != "" || s.NameSuffix != "" || len(s.Patches) > 0 || len(s.Images) > 0 || len(s.Components) > 0
}

// generate writes the kustomization kustomize-controller generates for a
// directory without one: every YAML file below it, and every
// subdirectory holding a kustomization as a whole.
func (w *fluxWalk) generate(dir string) (*yaml.Node, error) {
	var resources []string
	var walk func(d string) error
	walk = func(d string) error {
		ents, err := w.src.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(d, e.Name())
			if e.IsDir() {
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				if FindKustomization(w.src, p) != "" {
					resources = append(resources, strings.TrimPrefix(p, dir+"/"))
					continue
				}
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			ext := path.Ext(p)
			if ext != ".yaml" && ext != ".yml" {
				continue
			}
			w.files[p] = true
			b, err := w.src.ReadFile(p)
			if err != nil {
				return err
			}
			docs, err := ParseDocs(p, b, w.r.opts.Limits)
			if err != nil {
				return err
			}
			objects := 0
			for _, doc := range docs {
				if doc.Kind != "" || doc.APIVersion != "" {
					objects++
				}
			}
			if objects == 0 {
				continue // comments only (bootstrap placeholders): nothing to apply
			}
			resources = append(resources, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setScalar(root, "apiVersion", "kustomize.config.k8s.io/v1beta1")
	setScalar(root, "kind", "Kustomization")
	appendSeq(root, "resources", resources)
	if len(resources) == 0 {
		child(root, "resources").Style = yaml.FlowStyle
	}
	return root, nil
}

// editKustomization writes a Flux Kustomization's fields into the
// kustomization of its path, as kustomize-controller does.
func editKustomization(root *yaml.Node, ks *fluxKustomization) error {
	if root.Kind != yaml.MappingNode {
		return errors.New("the kustomization is not a mapping")
	}
	s := ks.Spec
	if s.TargetNamespace != "" {
		setScalar(root, "namespace", s.TargetNamespace)
	}
	if s.NamePrefix != "" {
		setScalar(root, "namePrefix", s.NamePrefix)
	}
	if s.NameSuffix != "" {
		setScalar(root, "nameSuffix", s.NameSuffix)
	}
	if len(s.Components) > 0 {
		appendSeq(root, "components", s.Components)
	}
	for _, p := range s.Patches {
		if err := appendNode(root, "patches", p); err != nil {
			return err
		}
	}
	for _, img := range s.Images {
		seq := child(root, "images")
		replaced := false
		if seq != nil {
			for i, it := range seq.Content {
				if scalar(it, "name") == img.Name {
					var n yaml.Node
					if err := n.Encode(img); err != nil {
						return err
					}
					seq.Content[i] = &n
					replaced = true
				}
			}
		}
		if !replaced {
			if err := appendNode(root, "images", img); err != nil {
				return err
			}
		}
	}
	return nil
}

func appendNode(m *yaml.Node, key string, v any) error {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return err
	}
	seq := child(m, key)
	if seq == nil {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, seq)
	}
	seq.Content = append(seq.Content, &n)
	return nil
}
