package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

var kustErrPathRe = regexp.MustCompile(`'?/([A-Za-z0-9_.@/-]+\.(?:ya?ml|json|env|properties))'?`)

var lineRe = regexp.MustCompile(`line (\d+)`)

// errFinding turns any render error into a finding with the best location.
func (r *Renderer) errFinding(env checks.Env, err error) checks.Finding {
	var re *RefError
	if errors.As(err, &re) {
		return r.finding(env, re.Rule, re.File, re.Line, re.Msg)
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		rule := "render/invalid-yaml"
		if pe.Limit != "" {
			rule = "render/limit"
		}
		return r.finding(env, rule, pe.File, pe.Line, pe.Msg)
	}
	var le *source.LimitError
	if errors.As(err, &le) {
		return r.finding(env, "render/limit", le.Path, 0, le.Error())
	}
	var ke *kustomizeError
	if errors.As(err, &ke) {
		return r.finding(env, "render/kustomize", ke.file, ke.line, ke.msg)
	}
	var ee *source.EscapeError
	if errors.As(err, &ee) {
		return r.finding(env, "render/path-escape", ee.Path, 0, ee.Error())
	}
	// A file that could not be read (a pipe, a device, a permission):
	// the finding is on that file, not on a path guessed from the text.
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && !errors.Is(err, context.DeadlineExceeded) {
		if c, cerr := source.Clean(pathErr.Path); cerr == nil && c != "." {
			return r.finding(env, "render/read-error", c, 0, strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return r.finding(env, "render/timeout", env.Path, 0, fmt.Sprintf("rendering took longer than %s (limit render-timeout; raise it with --render-timeout or gate.yaml limits.renderTimeout)", r.opts.Timeout))
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	file, line := env.Path, 0
	if m := kustErrPathRe.FindStringSubmatch(msg); m != nil {
		if c, cerr := source.Clean(m[1]); cerr == nil {
			file = c
		}
	}
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return r.finding(env, "render/kustomize", file, line, msg)
}

// kustomizeError is a kustomize failure with secret values scrubbed and
// the kustomization line it most likely refers to.
type kustomizeError struct {
	msg  string
	file string
	line int
}

func (e *kustomizeError) Error() string { return e.msg }

// culprit finds the kustomization that caused a failed build from the
// build's own call path: every kustomization of the graph is built on its
// own, bases before the kustomizations that use them, and the first that
// fails is the one to change (a base that builds alone is not at fault;
// the kustomization that fails only with it is). Components cannot be
// built alone: a broken component is blamed on the kustomization using
// it. This runs only after a build failed.
func culprit(ctx context.Context, fsys *kfs, g *graph, top string) *Kustomization {
	for _, dir := range g.order {
		k := g.byDir[dir]
		if dir == top || k.Component || ctx.Err() != nil {
			continue
		}
		if err := buildAlone(ctx, fsys, dir); err != nil && ctx.Err() == nil {
			return k
		}
	}
	return g.byDir[top]
}

func buildAlone(ctx context.Context, fsys *kfs, dir string) error {
	_, err := bounded(ctx, "kustomize", func() (resmap.ResMap, error) {
		return krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/"+dir)
	})
	return err
}

// patchIDRe reads the object a patch names from kustomize's errors about
// it ("no resource matches strategic merge patch \"ConfigMap.v1.[noGrp]/x.[noNs]\"").
var patchIDRe = regexp.MustCompile(`patch "?([A-Za-z0-9]+)\.[^/\s"]*/([^\s"]+?)\.\[`)

// patchBlameLine is the line of the patches: (or patchesStrategicMerge:)
// entry of k whose patch names the object a kustomize error is about, 0
// when there is none.
func patchBlameLine(src source.Source, k *Kustomization, msg string) int {
	m := patchIDRe.FindStringSubmatch(msg)
	if m == nil || k.Root == nil {
		return 0
	}
	names := func(data string) bool {
		docs, err := ParseDocs(k.File, []byte(data), Limits{})
		if err != nil {
			return false
		}
		for _, d := range docs {
			if d.Kind == m[1] && d.Name == m[2] {
				return true
			}
		}
		return false
	}
	for _, field := range []string{"patches", "patchesStrategicMerge"} {
		for _, it := range seqItems(child(k.Root, field)) {
			file, inline, line := "", "", it.Line
			switch {
			case it.Kind == yaml.ScalarNode && strings.Contains(it.Value, "\n"):
				inline = it.Value
			case it.Kind == yaml.ScalarNode:
				file = it.Value
			default:
				file, inline = scalar(it, "path"), scalar(it, "patch")
				if kn := keyNode(it, "path"); kn != nil {
					line = kn.Line
				}
			}
			if inline != "" && names(inline) {
				return line
			}
			if file != "" {
				if b, err := src.ReadFile(path.Join(path.Dir(k.File), file)); err == nil && names(string(b)) {
					return line
				}
			}
		}
	}
	return 0
}

var fieldInMsgRe = regexp.MustCompile(`Kustomization\.([A-Za-z0-9]+)`)

// blameLine finds the line of kustomization k a kustomize error is about:
// the top-level field the error names (json: cannot unmarshal ... into
// Kustomization.images), else the line whose value the message quotes
// last (errors nest "outer: inner: innermost"), else 0.
func blameLine(src source.Source, k *Kustomization, msg string) int {
	if l := patchBlameLine(src, k, msg); l > 0 {
		return l
	}
	for _, m := range fieldInMsgRe.FindAllStringSubmatch(msg, -1) {
		key := m[1]
		if kn := keyNode(k.Root, key); kn != nil {
			return kn.Line
		}
	}
	b, err := src.ReadFile(k.File)
	if err != nil {
		return 0
	}
	bestLine, bestIdx, bestLen := 0, -1, 0
	for i, l := range strings.Split(string(b), "\n") {
		v := strings.TrimSpace(l)
		v = strings.TrimPrefix(v, "- ")
		if strings.HasPrefix(v, "apiVersion:") || strings.HasPrefix(v, "kind:") {
			continue // "Kustomization" is in every kustomize error
		}
		if j := strings.Index(v, ": "); j >= 0 && !strings.Contains(v[:j], " ") {
			v = strings.TrimSpace(v[j+2:])
		}
		v = strings.Trim(v, `"'`)
		if len(v) < 4 {
			continue
		}
		idx := strings.LastIndex(msg, v)
		if idx > bestIdx || idx == bestIdx && idx >= 0 && len(v) > bestLen {
			bestLine, bestIdx, bestLen = i+1, idx, len(v)
		}
	}
	return bestLine
}
