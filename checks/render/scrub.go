package render

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/gate-ops/gate/checks/source"
)

// redacted replaces a secret value in any text gate prints.
const redacted = "[redacted]"

// secretValues collects every value a render could leak through an error
// message: secretGenerator literals, files and env files, and the data and
// stringData of Secret documents the environment's kustomizations list.
func secretValues(src source.Source, g *graph, docs *docCache) []string {
	set := map[string]bool{}
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= 4 {
			set[v] = true
		}
	}
	for _, dir := range g.order {
		k := g.byDir[dir]
		for _, it := range seqItems(child(k.Root, "secretGenerator")) {
			for _, lit := range seqItems(child(it, "literals")) {
				if i := strings.IndexByte(lit.Value, '='); i >= 0 {
					add(lit.Value[i+1:])
				} else {
					add(lit.Value)
				}
			}
			for _, key := range []string{"files", "envs"} {
				for _, f := range seqItems(child(it, key)) {
					ref := f.Value
					if i := strings.IndexByte(ref, '='); i >= 0 {
						ref = ref[i+1:]
					}
					p, err := source.Join(k.Dir, ref)
					if err != nil {
						continue
					}
					b, err := src.ReadFile(p)
					if err != nil {
						continue
					}
					add(string(b))
					for _, line := range strings.Split(string(b), "\n") {
						if i := strings.IndexByte(line, '='); i >= 0 {
							add(line[i+1:])
						}
					}
				}
			}
		}
		for _, f := range k.Files {
			for _, d := range docs.cached(f) {
				if d.Kind != "Secret" {
					continue
				}
				for _, key := range []string{"data", "stringData"} {
					m := child(d.Node, key)
					if m == nil {
						continue
					}
					for i := 1; i < len(m.Content); i += 2 {
						v := m.Content[i].Value
						add(v)
						if key == "data" {
							if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
								add(string(dec))
							}
						}
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	// Longest first, so a value containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// scrub removes secret values from text, also in the form %v prints a
// []byte in ("[80 65 83 ...]"), which kustomize uses to quote a line that
// is not valid UTF-8.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
		if bl := strings.Trim(fmt.Sprint([]byte(v)), "[]"); strings.Contains(s, bl) {
			s = strings.ReplaceAll(s, bl, redacted)
		}
	}
	return s
}
