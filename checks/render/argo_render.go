package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gobwas/glob"
	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// argoOut is what rendering one Application gave besides its resources:
// the Applications it renders (app-of-apps) and its sources as tree nodes.
type argoOut struct {
	children []*argoApp
	nodes    []checks.Node
}

// renderArgoApp renders every source of an Application into res, the way
// Argo CD's repo-server generates manifests, and returns the Applications
// among them.
func (r *Renderer) renderArgoApp(ctx context.Context, src source.Source, app *argoApp, cfg argoConfig, res *Result) argoOut {
	var out argoOut
	if app.err != nil {
		res.Findings = append(res.Findings, r.errFinding(res.Env, app.err))
		return out
	}
	sources, paths := app.Spec.sources()
	if len(sources) == 0 {
		res.Findings = append(res.Findings, r.finding(res.Env, ruleArgo, app.File, app.lineOf([]string{"spec"}), fmt.Sprintf("Application %s has no source", app.Name)))
		return out
	}
	files := map[string]bool{}
	// refs are the sources named by ref, for $ref/ value files.
	refs := map[string]argoSource{}
	for _, s := range sources {
		if s.Ref != "" {
			refs[s.Ref] = s
		}
	}
	for i, s := range sources {
		at := paths[i]
		line := app.lineOf(at)
		var valueNodes []checks.Node
		node := checks.Node{Kind: "source", Name: argoSourceName(s), Detail: argoSourceDetail(s), Origin: checks.Origin{File: app.File, Line: line}}
		notRendered := func(rule string, sev checks.Severity, l int, msg string) {
			node.NotRendered = msg
			res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: rule, Severity: sev, Env: res.Env.Name, Origin: checks.Origin{File: app.File, Line: l}, Message: msg})
		}
		switch {
		case s.Chart != "":
			r.renderArgoChart(ctx, src, app, s, at, refs, cfg, res, files, &node, &valueNodes, notRendered)
		case !app.Implicit && !argoIsThisRepo(s.RepoURL, cfg.repos):
			notRendered(ruleNotRendered, checks.SeverityWarning, app.lineOf(append(at, "repoURL")),
				fmt.Sprintf("source %s at %s is another repository: not rendered%s", s.RepoURL, orDefault(s.TargetRevision, "HEAD"), unknownRepoHint(cfg.repos)))
		case !app.Implicit && !argoIsThisRevision(s.TargetRevision):
			notRendered(ruleNotRendered, checks.SeverityWarning, app.lineOf(append(at, "targetRevision")),
				fmt.Sprintf("source %s at revision %q is another branch or tag than the one checked: not rendered", s.RepoURL, s.TargetRevision))
		case s.Ref != "" && s.Path == "":
			node.Kind = "source/ref"
			// A ref source only lends its files to $ref/ value files.
		case s.Plugin != nil:
			node.Kind = "source/plugin"
			notRendered(ruleNotRendered, checks.SeverityWarning, app.lineOf(append(at, "plugin")),
				fmt.Sprintf("source %s renders with a config management plugin: gate runs no plugin, not rendered", s.Path))
		default:
			kind, err := r.renderArgoSource(ctx, src, app, s, at, refs, cfg, res, files, &valueNodes)
			node.Kind = "source/" + kind
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					res.Findings = append(res.Findings, r.errFinding(res.Env, err))
				} else {
					res.Findings = append(res.Findings, r.argoErrFinding(res.Env, err, app.File, line))
				}
				node.NotRendered = "render failed"
			}
		}
		// Sources in order, each followed by its value files.
		out.nodes = append(append(out.nodes, node), valueNodes...)
	}
	for f := range files {
		res.Files = append(res.Files, f)
	}
	sort.Strings(res.Files)
	// App of apps: the Applications this one renders are environments too.
	out.children = argoChildren(src, app, cfg, res, out.nodes)
	return out
}

// argoChildren are the Applications app renders (expanding
// ApplicationSets): app of apps, each an environment too, under app and
// its sources (nodes) in the tree.
func argoChildren(src source.Source, app *argoApp, cfg argoConfig, res *Result, nodes []checks.Node) []*argoApp {
	var children []*argoApp
	d := chainDepth(app.Parents)
	parents := append(append([]checks.Node{}, app.Parents...), checks.Node{Kind: "Application", Name: app.key(), Depth: d, Origin: checks.Origin{File: app.File, Line: app.Line}})
	for _, n := range nodes {
		n.Depth += d + 1
		parents = append(parents, n)
	}
	for _, rs := range res.Resources {
		if !isArgo(rs.ID.APIVersion(), rs.ID.Kind) {
			continue
		}
		var node *yaml.Node
		if info := res.loc[rs]; info != nil {
			node = res.docNode(info)
		}
		obj := deepCopyMap(rs.Object)
		if rs.ID.Kind == "Application" {
			children = append(children, newArgoApp(obj, rs.Origin.File, rs.Origin.Line, node, parents))
			continue
		}
		apps, finds := expandAppSet(src, cfg, obj, rs.Origin.File, rs.Origin.Line, node, parents)
		for i := range finds {
			finds[i].Env = res.Env.Name
		}
		res.Findings = append(res.Findings, finds...)
		children = append(children, apps...)
	}
	return children
}

func deepCopyMap(m map[string]any) map[string]any {
	var out map[string]any
	b, err := yaml.Marshal(m)
	if err == nil && yaml.Unmarshal(b, &out) == nil {
		return normalize(out).(map[string]any)
	}
	return m
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// unknownRepoHint says how to name this repository when nothing does.
func unknownRepoHint(repos []string) string {
	if len(repos) == 0 {
		return " (this repository's URL is unknown: no git remote; list it in gate.yaml repository.urls)"
	}
	return ""
}

func argoSourceName(s argoSource) string {
	switch {
	case s.Chart != "":
		return s.Chart
	case s.Path != "":
		return s.Path
	case s.Ref != "":
		return "$" + s.Ref
	}
	return "."
}

func argoSourceDetail(s argoSource) string {
	d := s.RepoURL
	if s.TargetRevision != "" {
		d += "@" + s.TargetRevision
	}
	if s.Ref != "" {
		d += " ref " + s.Ref
	}
	return d
}

// argoIsThisRevision: Argo CD's HEAD (or nothing) is the default branch,
// which is what a pull request merges into. main and master are taken as
// that branch too.
func argoIsThisRevision(rev string) bool {
	switch rev {
	case "", "HEAD", "main", "master":
		return true
	}
	return false
}

// argoErrFinding is a render error as a finding; errors without a location
// land on the Application's source line.
func (r *Renderer) argoErrFinding(env checks.Env, err error, file string, line int) checks.Finding {
	f := r.errFinding(env, err)
	if f.Origin.File == "" || f.Origin.File == env.Path && f.Origin.Line == 0 {
		f.Origin = checks.Origin{File: file, Line: line}
	}
	return f
}

// renderArgoSource renders one source that lives in this repository and
// returns how it rendered: directory, kustomize or helm (Argo CD's own
// detection: the explicit block first, then Chart.yaml, then a
// kustomization, else a directory of manifests).
func (r *Renderer) renderArgoSource(ctx context.Context, src source.Source, app *argoApp, s argoSource, at []string, refs map[string]argoSource, cfg argoConfig, res *Result, files map[string]bool, nodes *[]checks.Node) (string, error) {
	dir, err := source.Clean(strings.TrimPrefix(orDefault(s.Path, "."), "/"))
	if err != nil || IsRemote(s.Path) {
		return "directory", &RefError{File: app.File, Line: app.lineOf(append(at, "path")), Rule: "render/path-escape", Msg: fmt.Sprintf("source path %q must be inside the repo", s.Path)}
	}
	fi, err := src.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "directory", &RefError{File: app.File, Line: app.lineOf(append(at, "path")), Rule: "render/missing-file", Msg: fmt.Sprintf("source path %s is not a directory of this repository", dir)}
	}
	kind := "directory"
	switch {
	case s.Helm != nil:
		kind = "helm"
	case s.Kustomize != nil:
		kind = "kustomize"
	case s.Directory != nil:
		kind = "directory"
	default:
		if _, err := src.Stat(path.Join(dir, "Chart.yaml")); err == nil {
			kind = "helm"
		} else if FindKustomization(src, dir) != "" {
			kind = "kustomize"
		}
	}
	sub := newResult(res.Env, src, r.opts.Limits)
	switch kind {
	case "helm":
		err = r.renderArgoHelm(ctx, src, app, s, at, dir, nil, refs, cfg, sub, nodes)
	case "kustomize":
		err = r.renderArgoKustomize(ctx, src, app, s, at, dir, cfg, sub)
		// The components the Application adds are read like the source's
		// own bases: nodes of the tree, whose directories discovery
		// then counts as used (argoUsedDirs).
		if s.Kustomize != nil {
			for i, c := range s.Kustomize.Components {
				if p, jerr := source.Join(dir, c); jerr == nil && !IsRemote(c) {
					if _, serr := src.Stat(p); serr == nil {
						*nodes = append(*nodes, checks.Node{Kind: "component", Name: p, Depth: 1, Origin: checks.Origin{File: app.File, Line: app.lineOf(append(at, "kustomize", "components", strconv.Itoa(i)))}})
					}
				}
			}
		}
	default:
		err = r.renderArgoDirectory(src, app, s, at, dir, sub)
	}
	for _, f := range sub.Files {
		files[f] = true
	}
	res.Findings = append(res.Findings, sub.Findings...)
	if err != nil {
		return kind, err
	}
	for _, rs := range sub.Resources {
		res.Resources = append(res.Resources, rs)
		if info := sub.loc[rs]; info != nil {
			res.loc[rs] = info
		}
	}
	return kind, nil
}

// renderArgoDirectory reads a directory of manifests as Argo CD does:
// .yaml, .yml and .json files, subdirectories only with recurse, include
// and exclude globs matched against the path inside the source (a * also
// crosses /, {a,b} alternates). Jsonnet files are named as not rendered.
func (r *Renderer) renderArgoDirectory(src source.Source, app *argoApp, s argoSource, at []string, dir string, res *Result) error {
	var inc, exc *glob.Pattern
	d := s.Directory
	if d == nil {
		d = &argoDirectory{}
	}
	for _, g := range []struct {
		pat   string
		field string
		into  **glob.Pattern
	}{{d.Include, "include", &inc}, {d.Exclude, "exclude", &exc}} {
		if g.pat == "" {
			continue
		}
		c, err := glob.Compile(g.pat)
		if err != nil {
			return &RefError{File: app.File, Line: app.lineOf(append(at, "directory", g.field)), Rule: ruleArgo, Msg: fmt.Sprintf("directory.%s %q: %v", g.field, g.pat, err)}
		}
		*g.into = c
	}
	return fs.WalkDir(src, dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != dir && (!d.Recurse || strings.HasPrefix(e.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if dir == "." {
			rel = p
		}
		ext := strings.ToLower(path.Ext(p))
		if ext != ".yaml" && ext != ".yml" && ext != ".json" && ext != ".jsonnet" {
			return nil
		}
		if exc != nil && exc.Match(rel) || inc != nil && !inc.Match(rel) {
			return nil
		}
		if ext == ".jsonnet" {
			res.Findings = append(res.Findings, checks.Finding{Check: "render", RuleID: ruleNotRendered, Severity: checks.SeverityWarning, Env: res.Env.Name, Origin: checks.Origin{File: p, Line: 1},
				Message: fmt.Sprintf("jsonnet is out of gate's scope: %s is not rendered (Application %s, %s)", p, app.Name, checks.Origin{File: app.File, Line: app.lineOf(at)})})
			return nil
		}
		res.Files = append(res.Files, p)
		ds, err := res.docs.get(src, p)
		if err != nil {
			return err
		}
		for i, doc := range ds {
			if doc.Node == nil || doc.Node.Kind == yaml.ScalarNode && doc.Node.Tag == "!!null" {
				continue
			}
			if doc.Node.Kind == yaml.SequenceNode && ext == ".json" {
				// A JSON array of objects, which Argo CD accepts.
				for j, it := range doc.Node.Content {
					if err := r.addDoc(res, p, it.Line, Doc{Index: i, Line: it.Line, Node: it, Kind: scalar(it, "kind"), APIVersion: scalar(it, "apiVersion")}, -1); err != nil {
						return err
					}
					_ = j
				}
				continue
			}
			if doc.Kind == "" && doc.APIVersion == "" {
				return &ParseError{File: p, Line: doc.Line, Msg: "YAML document has no apiVersion or kind: Argo CD fails to sync this directory"}
			}
			if err := r.addDoc(res, p, doc.Line, doc, i); err != nil {
				return err
			}
		}
		return nil
	})
}
