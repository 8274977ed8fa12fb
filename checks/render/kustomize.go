package render

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// graph is the set of kustomizations one environment builds.
type graph struct {
	byDir map[string]*Kustomization
	order []string // DFS post-order: bases before users
	reach map[string]map[string]bool
	// resFiles are each kustomization's resource files (graph.owns).
	resFiles map[string]map[string]bool
}

// scanGraphWith scans the kustomization graph under rootDir, taking scanned kustomizations from m, when
// set, which RenderAll shares between environments.
func (r *Renderer) scanGraphWith(src source.Source, rootDir string, m *memo) (*graph, error) {
	g := &graph{byDir: map[string]*Kustomization{}, reach: map[string]map[string]bool{}}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	// States are keyed by the directory symlinks resolve to, so a symlink
	// back to an ancestor is a cycle, not an endless chain of new paths.
	canon := func(dir string) string {
		if r, ok := src.(interface{ Resolve(string) (string, error) }); ok {
			if c, err := r.Resolve(dir); err == nil {
				return c
			}
		}
		return dir
	}
	// The line of the reference to dir in via is only looked up for an
	// error: finding it costs more than scanning the kustomization.
	var visit func(dir string, via *Kustomization, stack []string) error
	visit = func(dir string, via *Kustomization, stack []string) error {
		key := canon(dir)
		switch state[key] {
		case visiting:
			cyc := append(append([]string{}, stack...), dir)
			return &RefError{File: via.File, Line: lineOfRef(via, dir), Rule: "render/cycle", Msg: "kustomization cycle: " + strings.Join(cyc, " -> ")}
		case done:
			return nil
		}
		state[key] = visiting
		file := m.find(src, dir)
		if file == "" {
			if via == nil {
				return &RefError{File: dir, Rule: "render/missing-file", Msg: fmt.Sprintf("no kustomization.yaml in %s", dir)}
			}
			return &RefError{File: via.File, Line: lineOfRef(via, dir), Rule: "render/missing-file", Msg: fmt.Sprintf("%s has no kustomization.yaml", dir)}
		}
		k, err := m.scan(src, file, r.opts.Limits)
		if err != nil {
			return err
		}
		g.byDir[dir] = k
		reach := map[string]bool{dir: true}
		for _, b := range k.Bases {
			if err := visit(b, k, append(stack, dir)); err != nil {
				return err
			}
			for d := range g.reach[b] {
				reach[d] = true
			}
		}
		g.reach[dir] = reach
		state[key] = done
		g.order = append(g.order, dir)
		return nil
	}
	if err := visit(rootDir, nil, nil); err != nil {
		return nil, err
	}
	return g, nil
}

// lineOfRef finds the line where k references base dir b.
func lineOfRef(k *Kustomization, b string) int {
	for _, key := range []string{"resources", "bases", "components"} {
		for _, it := range seqItems(child(k.Root, key)) {
			if p, err := source.Join(k.Dir, strings.TrimSpace(it.Value)); err == nil && p == b {
				return it.Line
			}
		}
	}
	return 0
}

func isYAMLFile(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// renderKustomize renders the kustomization in env.Path into res. m is
// the memo of a RenderAll (nil: none): the subtrees it can stand in for
// are taken from it (memo.go). When the shared build cannot be used for
// env, res is the ordinary build's, so findings and errors are the same
// either way.
func (r *Renderer) renderKustomize(ctx context.Context, m *memo, src source.Source, env checks.Env, res *Result) error {
	err := r.buildKustomize(ctx, m, src, env, res)
	if errors.Is(err, errMemoMiss) {
		*res = *newResult(env, src, r.opts.Limits)
		err = r.buildKustomize(ctx, nil, src, env, res)
	}
	return err
}

// buildKustomize is renderKustomize with the plan mem makes for env,
// without the fallback: errMemoMiss when the plan cannot be used.
func (r *Renderer) buildKustomize(ctx context.Context, mem *memo, src source.Source, env checks.Env, res *Result) error {
	g, err := r.scanGraphWith(src, env.Path, mem)
	if err != nil {
		return err
	}
	fsys := newKFS(src)
	docs := res.docs
	mp := mem.plan(ctx, src, g, env.Path, docs)
	usesOpenAPI, err := preparse(src, g, mp, docs, fsys)
	if err != nil {
		return err
	}
	// Helm charts: render in process and hand kustomize the output as a
	// resource file, so namespace, labels and patches apply as usual.
	helmOrigins, helmValues, err := r.kustomizeCharts(ctx, src, env, g, docs, fsys, res)
	if err != nil {
		return err
	}
	top := g.byDir[env.Path]
	userOrigin := hasBuildMetadata(top.Root, "originAnnotations")
	userTransform := hasBuildMetadata(top.Root, "transformerAnnotations")
	if !userOrigin {
		// Origins come from markers on the sources, not from kustomize's
		// originAnnotations (see sourceMarker for why).
		if err := markSources(src, mp.outsideGraph(g), docs, fsys, helmOrigins); err != nil {
			return err
		}
	}

	if err := mp.apply(g, fsys); err != nil {
		return errMemoMiss
	}
	if usesOpenAPI {
		r.openapiMu.Lock()
		defer r.openapiMu.Unlock()
	}
	initKustomize()
	m, err := bounded(ctx, "kustomize", func() (resmap.ResMap, error) {
		return krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/"+env.Path)
	})
	if err != nil && err == ctx.Err() {
		return err
	}
	res.Files = mp.reads(fsys.Reads())
	if err != nil && mp != nil {
		return errMemoMiss // the ordinary build reports it
	}
	if err != nil {
		// kustomize quotes inputs in its errors, secret literals included.
		secrets := secretValues(src, g, docs, fsys, r.opts.Limits)
		file, line := env.Path, 0
		if k := culprit(ctx, fsys, g, env.Path); k != nil {
			file, line = k.File, blameLine(src, k, err.Error())
		}
		return &kustomizeError{msg: shorten(scrub(err.Error(), secrets)), file: file, line: line}
	}
	lc := &locContext{src: src, env: env, g: g, docs: docs, helm: helmOrigins, helmValues: helmValues}
	return collect(lc, m, mp, userOrigin, userTransform, res)
}

// preparse parses every YAML input of the kustomizations built here (not
// those shared) with gate's limits, so invalid or hostile YAML is a
// finding on its line before kustomize expands it; it records the
// kustomization files and says whether one sets openapi:.
func preparse(src source.Source, g *graph, mp *memoPlan, docs *docCache, fsys *kfs) (usesOpenAPI bool, err error) {
	genInputs := map[string]bool{}
	for _, dir := range mp.outside(g.order) {
		k := g.byDir[dir]
		usesOpenAPI = usesOpenAPI || k.UsesOpenAPI
		fsys.record(k.File)
		for p := range generatorInputs(k) {
			genInputs[p] = true
		}
		for _, f := range k.Files {
			if genInputs[f] || !isYAMLFile(f) {
				continue
			}
			if _, err := docs.get(src, f); err != nil {
				return false, err
			}
		}
	}
	return usesOpenAPI, nil
}

// kustomizeCharts renders the helmCharts of every kustomization of g in
// process and hands kustomize the output as a resource file in place of
// the entry (fsys), so namespace, labels and patches apply as usual. It
// returns each such file's documents and values, for origins.
func (r *Renderer) kustomizeCharts(ctx context.Context, src source.Source, env checks.Env, g *graph, docs *docCache, fsys *kfs, res *Result) (map[string][]helmDoc, map[string][]valuesLoc, error) {
	helmOrigins := map[string][]helmDoc{}
	helmValues := map[string][]valuesLoc{}
	for _, dir := range g.order {
		k := g.byDir[dir]
		if len(k.HelmCharts) == 0 {
			continue
		}
		var extra []string
		for i, hc := range k.HelmCharts {
			rel, err := helmReleaseFromKustomize(src, k, hc, env.KubernetesVersion, r.opts.Charts)
			if err != nil {
				return nil, nil, err
			}
			if rel.Chart != nil {
				res.Findings = append(res.Findings, ChartUsedFinding(env, k.File, hc.Line, rel.Chart))
			}
			hdocs, err := renderHelm(ctx, src, rel, fsys.record)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return nil, nil, err
				}
				if re := (*RefError)(nil); errors.As(err, &re) {
					return nil, nil, re
				}
				return nil, nil, &RefError{File: k.File, Line: hc.Line, Rule: "render/helm", Msg: err.Error()}
			}
			vname := fmt.Sprintf("%s%d_%s.yaml", virtualPrefix, i, scalar(hc.Node, "name"))
			vpath := path.Join(k.Dir, vname)
			var b strings.Builder
			for _, d := range hdocs {
				b.WriteString("---\n")
				b.WriteString(d.Body)
				if !strings.HasSuffix(d.Body, "\n") {
					b.WriteString("\n")
				}
			}
			fsys.overrides[vpath] = []byte(b.String())
			helmOrigins[vpath] = hdocs
			helmValues[vpath] = kustomizeHelmValues(rel, k.File, i)
			if _, err := docs.parse(vpath, []byte(b.String())); err != nil {
				return nil, nil, &RefError{File: hdocsTemplate(hdocs, err), Line: 0, Rule: "render/helm", Msg: fmt.Sprintf("chart output is not valid YAML: %v", err)}
			}
			extra = append(extra, vname)
		}
		rewritten, err := rewriteKustomization(k.Root, func(root *yaml.Node) {
			removeKey(root, "helmCharts")
			removeKey(root, "helmGlobals")
			appendSeq(root, "resources", extra)
		})
		if err != nil {
			return nil, nil, err
		}
		fsys.overrides[k.File] = rewritten
	}
	return helmOrigins, helmValues, nil
}

// collect adds the objects kustomize built (m) to res with their origins,
// build annotations stripped (those the kustomization did not ask for);
// errMemoMiss when a shared subtree left a stale name.
func collect(lc *locContext, m resmap.ResMap, mp *memoPlan, userOrigin, userTransform bool, res *Result) error {
	for _, kr := range m.Resources() {
		ann := kr.GetAnnotations()
		originText := ann[originAnnotation]
		marker := ann[sourceMarker]
		delete(ann, sourceMarker)
		if !userOrigin {
			delete(ann, originAnnotation)
		}
		if !userTransform {
			delete(ann, transformationAnnotation)
		}
		if err := kr.SetAnnotations(ann); err != nil {
			return fmt.Errorf("strip build annotations: %w", err)
		}
		obj, err := appliedObject(kr)
		if err != nil {
			return fmt.Errorf("read rendered object: %w", err)
		}
		if mp.stale(obj) {
			return errMemoMiss
		}
		rsc, err := newResource(normalize(obj).(map[string]any))
		if err != nil {
			return err
		}
		if !userOrigin {
			originText = lc.markedOrigin(rsc, marker)
		}
		rsc.Origin, res.loc[rsc] = lc.origin(rsc, originText)
		rsc.Patches = res.loc[rsc].patchOrigins()
		res.Resources = append(res.Resources, rsc)
	}
	return nil
}

func hdocsTemplate(h []helmDoc, _ error) string {
	if len(h) > 0 {
		return h[0].Template
	}
	return ""
}

func hasBuildMetadata(root *yaml.Node, opt string) bool {
	for _, it := range seqItems(child(root, "buildMetadata")) {
		if it.Value == opt {
			return true
		}
	}
	return false
}

func rewriteKustomization(root *yaml.Node, edit func(*yaml.Node)) ([]byte, error) {
	cp := deepCopy(root)
	edit(cp)
	b, err := yaml.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("rewrite kustomization: %w", err)
	}
	return b, nil
}

func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		c.Content[i] = deepCopy(ch)
	}
	return &c
}

func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func appendSeq(m *yaml.Node, key string, vals []string) {
	seq := child(m, key)
	if seq == nil {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, seq)
	}
	for _, v := range vals {
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
}
