// Package chartpull fills gate's chart cache (checks/charts) from the
// network: the chart references an ops repo makes (Flux HelmRepository,
// OCIRepository, HelmChart and HelmRelease, Argo CD Applications, kustomize
// helmCharts), fetched from Helm HTTP repositories (index.yaml + .tgz) and
// OCI registries, only from repositories the trusted gate.yaml allows,
// through its mirrors. It is what `gate charts pull` runs and what `gate
// serve` calls before a run; the engine never does.
package chartpull

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
)

// Want is one chart reference found in the repo.
type Want struct {
	Ref charts.Ref
	// File and Line declare it (the HelmRelease, Application or
	// kustomization that asks for the chart).
	File string
	Line int
}

func (w Want) String() string { return fmt.Sprintf("%s:%d %s", w.File, w.Line, w.Ref) }

// maxScanFiles bounds the YAML files one scan reads.
const maxScanFiles = 50000

type fluxSource struct {
	kind, name, namespace string
	url, typ, version     string
	file                  string
	line                  int
}

type fluxConsumer struct {
	// chart, version from chart.spec / HelmChart spec; ref kind/name/ns.
	chart, version          string
	refKind, refName, refNS string
	file                    string
	line                    int
	viaChartRef             bool
}

// Scan lists the chart references of a repo tree. Files that do not parse
// are skipped: rendering reports them.
func Scan(src source.Source) ([]Want, error) {
	var sources []fluxSource
	var consumers []fluxConsumer
	var wants []Want
	n := 0
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		ext := path.Ext(p)
		if ext != ".yaml" && ext != ".yml" {
			return nil
		}
		if n++; n > maxScanFiles {
			return fmt.Errorf("more than %d YAML files", maxScanFiles)
		}
		b, err := src.ReadFile(p)
		if err != nil {
			return nil
		}
		docs, err := render.ParseDocs(p, b, render.Limits{})
		if err != nil {
			return nil
		}
		base := path.Base(p)
		for _, doc := range docs {
			if slicesContains(render.KustomizationFiles, base) {
				wants = append(wants, scanKustomization(p, doc.Node)...)
				continue
			}
			s, c, w := scanObject(p, doc)
			if s != nil {
				sources = append(sources, *s)
			}
			if c != nil {
				consumers = append(consumers, *c)
			}
			wants = append(wants, w...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan for chart references: %w", err)
	}
	wants = append(wants, joinFlux(sources, consumers)...)
	sort.SliceStable(wants, func(i, j int) bool {
		if wants[i].File != wants[j].File {
			return wants[i].File < wants[j].File
		}
		return wants[i].Line < wants[j].Line
	})
	return wants, nil
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func child(m *yaml.Node, keys ...string) *yaml.Node {
	for _, key := range keys {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				next = m.Content[i+1]
			}
		}
		m = next
	}
	return m
}

func scalar(m *yaml.Node, keys ...string) string {
	c := child(m, keys...)
	if c == nil || c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
		return ""
	}
	return c.Value
}

func line(n *yaml.Node, fallback int) int {
	if n != nil && n.Line > 0 {
		return n.Line
	}
	return fallback
}

func scanKustomization(file string, root *yaml.Node) []Want {
	var out []Want
	hc := child(root, "helmCharts")
	if hc == nil || hc.Kind != yaml.SequenceNode {
		return nil
	}
	for _, e := range hc.Content {
		repo, name := scalar(e, "repo"), scalar(e, "name")
		if repo == "" || name == "" {
			continue
		}
		out = append(out, Want{Ref: charts.Ref{Repo: repo, Chart: name, Version: scalar(e, "version")}, File: file, Line: line(e, 1)})
	}
	return out
}

// templated reports whether a value is an ApplicationSet template.
func templated(s string) bool { return strings.Contains(s, "{{") }

func scanObject(file string, doc render.Doc) (*fluxSource, *fluxConsumer, []Want) {
	n := doc.Node
	group, _, _ := strings.Cut(doc.APIVersion, "/")
	switch {
	case group == "source.toolkit.fluxcd.io" && (doc.Kind == "HelmRepository" || doc.Kind == "OCIRepository"):
		s := &fluxSource{kind: doc.Kind, name: doc.Name, namespace: doc.Namespace, url: scalar(n, "spec", "url"), typ: scalar(n, "spec", "type"), file: file, line: doc.Line}
		if doc.Kind == "OCIRepository" {
			s.version = scalar(n, "spec", "ref", "semver")
			if s.version == "" {
				s.version = scalar(n, "spec", "ref", "tag")
			}
			if s.version == "" {
				s.version = "latest"
			}
		}
		return s, nil, nil
	case group == "source.toolkit.fluxcd.io" && doc.Kind == "HelmChart":
		sp := child(n, "spec")
		return nil, &fluxConsumer{chart: scalar(sp, "chart"), version: scalar(sp, "version"), refKind: scalar(sp, "sourceRef", "kind"), refName: scalar(sp, "sourceRef", "name"), refNS: doc.Namespace, file: file, line: line(child(sp, "chart"), doc.Line)}, nil
	case group == "helm.toolkit.fluxcd.io" && doc.Kind == "HelmRelease":
		if cr := child(n, "spec", "chartRef"); cr != nil {
			ns := scalar(cr, "namespace")
			if ns == "" {
				ns = doc.Namespace
			}
			return nil, &fluxConsumer{refKind: scalar(cr, "kind"), refName: scalar(cr, "name"), refNS: ns, file: file, line: line(cr, doc.Line), viaChartRef: true}, nil
		}
		cs := child(n, "spec", "chart", "spec")
		if cs == nil {
			return nil, nil, nil
		}
		ns := scalar(cs, "sourceRef", "namespace")
		if ns == "" {
			ns = doc.Namespace
		}
		return nil, &fluxConsumer{chart: scalar(cs, "chart"), version: scalar(cs, "version"), refKind: scalar(cs, "sourceRef", "kind"), refName: scalar(cs, "sourceRef", "name"), refNS: ns, file: file, line: line(child(cs, "chart"), doc.Line)}, nil
	case group == "argoproj.io" && (doc.Kind == "Application" || doc.Kind == "ApplicationSet"):
		spec := child(n, "spec")
		if doc.Kind == "ApplicationSet" {
			spec = child(n, "spec", "template", "spec")
		}
		var srcs []*yaml.Node
		if s := child(spec, "source"); s != nil {
			srcs = append(srcs, s)
		}
		if ss := child(spec, "sources"); ss != nil && ss.Kind == yaml.SequenceNode {
			srcs = append(srcs, ss.Content...)
		}
		var out []Want
		for _, s := range srcs {
			repo, chart, ver := scalar(s, "repoURL"), scalar(s, "chart"), scalar(s, "targetRevision")
			if repo == "" || chart == "" || templated(repo+chart+ver) {
				continue
			}
			out = append(out, Want{Ref: charts.Ref{Repo: ArgoRepo(repo), Chart: chart, Version: ver}, File: file, Line: line(child(s, "chart"), doc.Line)})
		}
		return nil, nil, out
	}
	return nil, nil, nil
}

// ArgoRepo is the repository URL of an Argo CD Helm source: Argo CD names
// OCI registries without a scheme (registry-1.docker.io/bitnamicharts).
func ArgoRepo(repoURL string) string {
	if strings.Contains(repoURL, "://") {
		return repoURL
	}
	return "oci://" + repoURL
}

// joinFlux matches HelmReleases and HelmCharts with the sources they name.
// A source's namespace may be set by a kustomization rather than in its
// file: when no source matches name and namespace, a single source of
// that kind and name is taken.
func joinFlux(sources []fluxSource, consumers []fluxConsumer) []Want {
	var out []Want
	for _, c := range consumers {
		var exact, byName []fluxSource
		for _, s := range sources {
			if s.kind != c.refKind || s.name != c.refName {
				continue
			}
			byName = append(byName, s)
			if s.namespace == c.refNS {
				exact = append(exact, s)
			}
		}
		match := exact
		if len(match) == 0 {
			match = byName
		}
		for _, s := range match {
			if s.url == "" {
				continue
			}
			var ref charts.Ref
			switch {
			case s.kind == "OCIRepository":
				repo, chart := charts.SplitOCI(s.url)
				ref = charts.Ref{Repo: repo, Chart: chart, Version: s.version}
			default:
				if c.chart == "" || c.viaChartRef {
					continue
				}
				ref = charts.Ref{Repo: s.url, Chart: c.chart, Version: c.version}
			}
			if ref.Version == "latest" && s.kind == "OCIRepository" {
				ref.Version = ""
			}
			out = append(out, Want{Ref: ref, File: c.file, Line: c.line})
		}
	}
	return out
}
