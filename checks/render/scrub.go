package render

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks/diff"
	"github.com/gate-ops/gate/checks/source"
)

// redacted replaces a secret value in any text gate prints.
const redacted = "[redacted]"

// secretValues collects every value a render could leak through an error
// message: secretGenerator literals, files and env files, and the data and
// stringData of Secret documents the environment's kustomizations list.
func secretValues(src source.Source, g *graph, docs *docCache, fsys *kfs, lim Limits) []string {
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
				nodeSecrets(d.Node, add)
			}
		}
	}
	generatedSecrets(fsys, lim, add)
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	// Longest first, so a value containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// nodeSecrets adds the values of a Secret document, and of every Secret
// among the items of a List (kind: List, or any *List kind), to add.
func nodeSecrets(n *yaml.Node, add func(string)) {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	kind := ""
	if k := child(n, "kind"); k != nil {
		kind = k.Value
	}
	if strings.HasSuffix(kind, "List") {
		for _, it := range seqItems(child(n, "items")) {
			nodeSecrets(it, add)
		}
		return
	}
	if kind != "Secret" {
		return
	}
	for _, key := range []string{"data", "stringData"} {
		var leaves []string
		var walk func(*yaml.Node)
		walk = func(m *yaml.Node) {
			switch m.Kind {
			case yaml.ScalarNode:
				leaves = append(leaves, m.Value)
			case yaml.MappingNode:
				for i := 1; i < len(m.Content); i += 2 {
					walk(m.Content[i])
				}
			case yaml.SequenceNode:
				for _, c := range m.Content {
					walk(c)
				}
			}
		}
		if m := child(n, key); m != nil {
			walk(m)
		}
		for _, v := range leaves {
			add(v)
			if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v)); err == nil {
				add(string(dec))
			}
		}
	}
}

// generatedSecrets collects the Secret values of the documents gate
// generated for kustomize to read (Helm chart output): kustomize's error
// text can quote them as it quotes any input.
func generatedSecrets(fsys *kfs, lim Limits, add func(string)) {
	if fsys == nil {
		return
	}
	for p, b := range fsys.overrides {
		if !bytes.Contains(b, []byte("Secret")) {
			continue
		}
		ds, _ := ParseDocs(p, b, lim)
		for _, d := range ds {
			nodeSecrets(d.Node, add)
		}
	}
}

// scrub removes secret values from text, also in the form %v prints a
// []byte in ("[80 65 83 ...]"), which kustomize uses to quote a line that
// is not valid UTF-8.
// It also removes the quoted forms a message may hold a value in (Go's %q,
// also ASCII-only, and JSON): a value with a quote, a backslash, a tab or
// a non-ASCII character reads differently there.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		for _, f := range diff.QuotedForms(v) {
			if len(f) >= 4 && strings.Contains(s, f) {
				s = strings.ReplaceAll(s, f, redacted)
			}
		}
		if bl := strings.Trim(fmt.Sprint([]byte(v)), "[]"); strings.Contains(s, bl) {
			s = strings.ReplaceAll(s, bl, redacted)
		}
	}
	return s
}
