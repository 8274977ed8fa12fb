package render

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/gobwas/glob"

	"github.com/gate-ops/gate/checks"
)

// gitGenerator runs a git directories or files generator on this
// repository's tree; another repository or revision is not rendered.
func (s *appSet) gitGenerator(body map[string]any, at []string) ([]map[string]any, []checks.Finding) {
	repo, _ := body["repoURL"].(string)
	rev, _ := body["revision"].(string)
	if !argoIsThisRepo(repo, s.cfg.repos) || !argoIsThisRevision(rev) {
		return nil, []checks.Finding{s.notRendered(append(at, "repoURL"), "git generator reads %s at %s, another repository or revision: its Applications are not rendered", repo, orDefault(rev, "HEAD"))}
	}
	var finds []checks.Finding
	var out []map[string]any
	if dirs, ok := body["directories"].([]any); ok {
		var inc, exc []*glob.Pattern
		for i, d := range dirs {
			dm, _ := d.(map[string]any)
			pat, _ := dm["path"].(string)
			g, err := glob.Compile(pat, '/')
			if err != nil {
				finds = append(finds, s.fail(append(at, "directories", fmt.Sprint(i), "path"), "path %q: %v", pat, err))
				continue
			}
			if ex, _ := dm["exclude"].(bool); ex {
				exc = append(exc, g)
			} else {
				inc = append(inc, g)
			}
		}
		_ = fs.WalkDir(s.src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if matchAny(inc, p) && !matchAny(exc, p) {
				out = append(out, s.pathParams(p, false))
			}
			return nil
		})
	}
	if files, ok := body["files"].([]any); ok {
		var inc, exc []*glob.Pattern
		for i, f := range files {
			fm, _ := f.(map[string]any)
			pat, _ := fm["path"].(string)
			g, err := glob.Compile(pat, '/')
			if err != nil {
				finds = append(finds, s.fail(append(at, "files", fmt.Sprint(i), "path"), "path %q: %v", pat, err))
				continue
			}
			if ex, _ := fm["exclude"].(bool); ex {
				exc = append(exc, g)
			} else {
				inc = append(inc, g)
			}
		}
		_ = fs.WalkDir(s.src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if p != "." && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !matchAny(inc, p) || matchAny(exc, p) {
				return nil
			}
			ps, err := s.fileParams(p)
			if err != nil {
				finds = append(finds, checks.Finding{Check: "render", RuleID: ruleArgo, Severity: checks.SeverityError, Origin: checks.Origin{File: p, Line: 1}, Message: fmt.Sprintf("ApplicationSet %s git files generator: %v", s.name, err)})
				return nil
			}
			out = append(out, ps...)
			return nil
		})
	}
	return out, finds
}

func matchAny(gs []*glob.Pattern, p string) bool {
	for _, g := range gs {
		if g.Match(p) {
			return true
		}
	}
	return false
}

var nonAlnum = regexp.MustCompile(`[^a-zA-Z0-9-]`)

// pathParams are the path parameters of a git generator entry: for a
// directory its path, for a file the directory that holds it.
func (s *appSet) pathParams(p string, file bool) map[string]any {
	dir := p
	if file {
		dir = path.Dir(p)
	}
	segs := strings.Split(dir, "/")
	base := path.Base(dir)
	norm := nonAlnum.ReplaceAllString(base, "-")
	if s.goTmpl {
		pm := map[string]any{"path": dir, "basename": base, "basenameNormalized": norm, "segments": anySlice(segs)}
		if file {
			pm["filename"] = path.Base(p)
			pm["filenameNormalized"] = nonAlnum.ReplaceAllString(path.Base(p), "-")
		}
		return map[string]any{"path": pm}
	}
	m := map[string]any{"path": dir, "path.basename": base, "path.basenameNormalized": norm}
	for i, sg := range segs {
		m[fmt.Sprintf("path[%d]", i)] = sg
	}
	if file {
		m["path.filename"] = path.Base(p)
		m["path.filenameNormalized"] = nonAlnum.ReplaceAllString(path.Base(p), "-")
	}
	return m
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// fileParams reads a git files generator's file: a mapping (or a list of
// them) whose keys become parameters, flattened with dots for the default
// template syntax.
func (s *appSet) fileParams(p string) ([]map[string]any, error) {
	b, err := s.src.ReadFile(p)
	if err != nil {
		return nil, err
	}
	ds, err := ParseDocs(p, b, s.cfg.lim)
	if err != nil {
		return nil, err
	}
	var items []map[string]any
	for _, d := range ds {
		var v any
		if err := d.Node.Decode(&v); err != nil {
			return nil, err
		}
		switch t := normalize(v).(type) {
		case map[string]any:
			items = append(items, t)
		case []any:
			for _, it := range t {
				if m, ok := it.(map[string]any); ok {
					items = append(items, m)
				}
			}
		}
	}
	var out []map[string]any
	for _, it := range items {
		m := map[string]any{}
		if s.goTmpl {
			for k, v := range it {
				m[k] = v
			}
		} else {
			flatten("", it, m)
		}
		for k, v := range s.pathParams(p, true) {
			m[k] = v
		}
		out = append(out, m)
	}
	return out, nil
}

func flatten(prefix string, v any, out map[string]any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, x, out)
		}
	case []any:
		b, _ := json.Marshal(t)
		out[prefix] = string(b)
	default:
		if t == nil {
			out[prefix] = ""
		} else {
			out[prefix] = fmt.Sprint(t)
		}
	}
}

// clusterGenerator lists the clusters gate knows: the one Argo CD runs in
// (in-cluster) when no selector narrows them, and those gate.yaml declares.
func (s *appSet) clusterGenerator(body map[string]any) []map[string]any {
	clusters := append([]argoCluster{}, s.cfg.clusters...)
	sel, _ := body["selector"].(map[string]any)
	if len(sel) == 0 && len(clusters) == 0 {
		clusters = append(clusters, argoCluster{Name: "in-cluster", Server: "https://kubernetes.default.svc"})
	}
	var want map[string]any
	if sel != nil {
		want, _ = sel["matchLabels"].(map[string]any)
	}
	var out []map[string]any
	for _, c := range clusters {
		ok := true
		for k, v := range want {
			if c.Labels[k] != fmt.Sprint(v) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		labels := map[string]any{}
		for k, v := range c.Labels {
			labels[k] = v
		}
		if s.goTmpl {
			out = append(out, map[string]any{"name": c.Name, "nameNormalized": nonAlnum.ReplaceAllString(c.Name, "-"), "server": c.Server, "metadata": map[string]any{"labels": labels}})
			continue
		}
		m := map[string]any{"name": c.Name, "nameNormalized": nonAlnum.ReplaceAllString(c.Name, "-"), "server": c.Server}
		for k, v := range c.Labels {
			m["metadata.labels."+k] = v
		}
		out = append(out, m)
	}
	return out
}

// usesClusters reports whether generators include a cluster generator.
func usesClusters(gens any) bool {
	switch t := gens.(type) {
	case map[string]any:
		for k, v := range t {
			if k == "clusters" || usesClusters(v) {
				return true
			}
		}
	case []any:
		for _, v := range t {
			if usesClusters(v) {
				return true
			}
		}
	}
	return false
}
