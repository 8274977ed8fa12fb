package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
)

// fuzzLimits are small, so the fuzzer reaches every limit with short inputs.
var fuzzLimits = Limits{MaxDocuments: 32, MaxDepth: 24, MaxNodes: 3000}

// maxFuzzInput bounds one input: the limits are under test, not the speed
// of the YAML scanner on megabytes.
const maxFuzzInput = 64 << 10

var knownLimits = map[string]bool{"max-documents": true, "max-depth": true, "max-nodes": true}

// lineCount is the number of lines of data as a YAML scanner counts them:
// LF, CR, CRLF and, as YAML 1.1 says, NEL, LS and PS end a line (a last line
// without a newline counts).
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n"))
	for _, br := range []string{"\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(br))
	}
	return n + 1
}

// checkParseError asserts what every YAML intake error promises: it is a
// *ParseError naming the file, a line inside the file, and, when a limit
// was hit, the limit by name.
func checkParseError(t *testing.T, file string, data []byte, err error) *ParseError {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *ParseError: %v", err, err)
	}
	if pe.File != file || !strings.HasPrefix(err.Error(), file+":") {
		t.Fatalf("error does not name the file %q: %v", file, err)
	}
	if pe.Msg == "" {
		t.Fatalf("error with an empty message: %#v", pe)
	}
	if pe.Line < 0 || pe.Line > lineCount(data) {
		t.Fatalf("error line %d outside the file's %d lines: %v", pe.Line, lineCount(data), err)
	}
	if pe.Limit != "" {
		if !knownLimits[pe.Limit] {
			t.Fatalf("unknown limit %q: %v", pe.Limit, err)
		}
		if !strings.Contains(pe.Msg, pe.Limit) {
			t.Fatalf("a limit error must name the limit %q: %v", pe.Limit, err)
		}
	}
	if pe.Line == 0 && pe.Limit != "max-documents" {
		t.Fatalf("error without a line: %v", err)
	}
	return pe
}

// shape measures a node with every alias expanded, independently of
// checkNode: its depth (the node itself at depth 1) and its node count,
// stopping once either passes stop.
func shape(n *yaml.Node, stop int) (depth, nodes int) {
	var walk func(n *yaml.Node, d int, active map[*yaml.Node]bool)
	walk = func(n *yaml.Node, d int, active map[*yaml.Node]bool) {
		if n == nil || nodes > stop || depth > stop {
			return
		}
		if d > depth {
			depth = d
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil || active[n.Alias] {
				return
			}
			active[n.Alias] = true
			walk(n.Alias, d+1, active)
			delete(active, n.Alias)
			return
		}
		nodes++
		for _, c := range n.Content {
			walk(c, d+1, active)
		}
	}
	walk(n, 1, map[*yaml.Node]bool{})
	return depth, nodes
}

// dupKey finds a duplicate scalar key anywhere below n (aliases not followed).
func dupKey(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value != "<<" {
				if seen[k.Value] {
					return k.Value
				}
				seen[k.Value] = true
			}
		}
	}
	for _, c := range n.Content {
		if d := dupKey(c); d != "" {
			return d
		}
	}
	return ""
}

// FuzzParseDocs feeds arbitrary bytes to the YAML intake every file of an
// ops repo goes through. Beyond not panicking it asserts: errors name the
// file and a line inside it, limit errors name their limit; accepted
// documents respect every limit (measured independently), have no
// duplicate keys, and survive the re-encoding the renderer does before
// kustomize reads them (marker.go) with the same content and identity.
func FuzzParseDocs(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		const file = "fuzz/in.yaml"
		docs, err := ParseDocs(file, data, fuzzLimits)
		if err != nil {
			checkParseError(t, file, data, err)
			return
		}
		if len(docs) > fuzzLimits.MaxDocuments {
			t.Fatalf("%d documents accepted, limit %d", len(docs), fuzzLimits.MaxDocuments)
		}
		prev := -1
		for _, d := range docs {
			if d.Node == nil {
				t.Fatalf("document %d has no node", d.Index)
			}
			if d.Index <= prev || d.Index >= fuzzLimits.MaxDocuments {
				t.Fatalf("document index %d after %d (limit %d)", d.Index, prev, fuzzLimits.MaxDocuments)
			}
			prev = d.Index
			if d.Line < 1 || d.Line > lineCount(data) {
				t.Fatalf("document %d at line %d, file has %d lines", d.Index, d.Line, lineCount(data))
			}
			// nodes+1: ParseDocs counts the document node around d.Node.
			depth, nodes := shape(d.Node, fuzzLimits.MaxNodes+fuzzLimits.MaxDepth)
			if depth > fuzzLimits.MaxDepth {
				t.Fatalf("document %d accepted nested %d deep once aliases are expanded, limit max-depth %d", d.Index, depth, fuzzLimits.MaxDepth)
			}
			if nodes+1 > fuzzLimits.MaxNodes {
				t.Fatalf("document %d accepted with more than %d nodes once aliases are expanded, limit max-nodes %d", d.Index, nodes, fuzzLimits.MaxNodes)
			}
			if k := dupKey(d.Node); k != "" {
				t.Fatalf("document %d accepted with duplicate key %q", d.Index, k)
			}
			if d.Node.Kind == yaml.MappingNode {
				if d.Kind != scalar(d.Node, "kind") || d.APIVersion != scalar(d.Node, "apiVersion") {
					t.Fatalf("document %d identity %q %q does not match its fields", d.Index, d.APIVersion, d.Kind)
				}
			}
			roundTrip(t, d)
		}
	})
}

// roundTrip re-encodes a document as the renderer does for kustomize
// (markSources) and parses it again: the content and the identity must be
// what kustomize's own writer leaves of the document (asWritten: the
// author's, but for the scalars that writer changes), or kustomize would
// render something else than `kustomize build` prints.
func roundTrip(t *testing.T, d Doc) {
	t.Helper()
	var want any
	if err := d.Node.Decode(&want); err != nil {
		return // not representable as data (e.g. a mapping as a key): kustomize refuses it too
	}
	if w := asWritten(d.Node); w != d.Node {
		want = nil
		if err := w.Decode(&want); err != nil {
			t.Fatalf("document %d as kustomize writes it does not decode: %v", d.Index, err)
		}
		md := mapValue(w, "metadata")
		d.APIVersion, d.Kind, d.Name, d.Namespace = scalar(w, "apiVersion"), scalar(w, "kind"), scalar(md, "name"), scalar(md, "namespace")
	}
	out, err := encodeDoc(d.Node)
	if err != nil {
		t.Fatalf("document %d parsed but cannot be re-encoded: %v", d.Index, err)
	}
	again, err := ParseDocs("again.yaml", out, DefaultLimits())
	if err != nil {
		t.Fatalf("document %d re-encoded does not parse: %v\n%s", d.Index, err, out)
	}
	if len(again) != 1 {
		t.Fatalf("document %d re-encoded as %d documents:\n%s", d.Index, len(again), out)
	}
	a := again[0]
	if a.APIVersion != d.APIVersion || a.Kind != d.Kind || a.Name != d.Name || a.Namespace != d.Namespace {
		t.Fatalf("document %d changed identity on re-encoding: %q %q %q/%q -> %q %q %q/%q", d.Index,
			d.APIVersion, d.Kind, d.Namespace, d.Name, a.APIVersion, a.Kind, a.Namespace, a.Name)
	}
	var got any
	if err := a.Node.Decode(&got); err != nil {
		t.Fatalf("document %d re-encoded does not decode: %v\n%s", d.Index, err, out)
	}
	if w, g := fmt.Sprintf("%#v", want), fmt.Sprintf("%#v", got); w != g {
		t.Fatalf("document %d changed on re-encoding:\nwas %s\nnow %s\nencoded:\n%s", d.Index, w, g, out)
	}
}

// fuzzRepo is the ops repo around the fuzzed kustomization: a base, a
// component, a nested base, and files of every kind a kustomization reads.
func fuzzRepo(kustomization []byte) *source.Mem {
	return source.NewMem("fuzz", map[string]string{
		"base/kustomization.yaml":                "resources:\n- deployment.yaml\n",
		"base/deployment.yaml":                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
		"components/mon/kustomization.yaml":      "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
		"overlays/prod/kustomization.yaml":       string(kustomization),
		"overlays/prod/patch.yaml":               "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
		"overlays/prod/app.properties":           "LOG_LEVEL=info\n",
		"overlays/prod/.env":                     "A=1\n",
		"overlays/prod/sub/kustomization.yaml":   "resources:\n- ../../../base\n",
		"overlays/prod/nokust/readme.txt":        "no kustomization here\n",
		"overlays/prod/plugin.yaml":              "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l\nlabels:\n  a: b\n",
		"overlays/prod/exec.yaml":                "apiVersion: x\nkind: Fn\nmetadata:\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./fn\n",
		"overlays/prod/openapi.json":             "{}\n",
		"overlays/prod/crds/probe.yaml":          "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n",
		"overlays/prod/charts/c/Chart.yaml":      "apiVersion: v2\nname: c\nversion: 0.1.0\n",
		"overlays/prod/replacements/source.yaml": "source:\n  kind: ConfigMap\n",
	})
}

// FuzzScanKustomization fuzzes the gate in front of kustomize: the scan of
// a kustomization.yaml (in an in-memory repo) that must refuse remote,
// absolute and escaping references and code-running plugins before
// kustomize sees the file. Beyond not panicking it asserts: errors name the
// kustomization, a line in it and a render/ rule; an accepted scan only
// lists clean repo-relative paths that exist (nothing outside the repo,
// nothing fetched), bases that are directories, and patches with a line.
func FuzzScanKustomization(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		const file = "overlays/prod/kustomization.yaml"
		src := fuzzRepo(data)
		k, err := ScanKustomization(src, file, fuzzLimits)
		if err != nil {
			var re *RefError
			if errors.As(err, &re) {
				if re.File != file || !strings.HasPrefix(err.Error(), file+":") {
					t.Fatalf("refusal does not name the kustomization: %v", err)
				}
				if re.Line < 1 || re.Line > lineCount(data) {
					t.Fatalf("refusal at line %d, the kustomization has %d lines: %v", re.Line, lineCount(data), err)
				}
				if !strings.HasPrefix(re.Rule, "render/") || re.Msg == "" {
					t.Fatalf("refusal without a rule or message: %#v", re)
				}
				return
			}
			checkParseError(t, file, data, err)
			return
		}
		if k.File != file || k.Dir != "overlays/prod" || k.Root == nil {
			t.Fatalf("scan of %s answered file %q dir %q root %v", file, k.File, k.Dir, k.Root)
		}
		inside := func(what, p string) {
			t.Helper()
			if p == "" || path.Clean(p) != p || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
				t.Fatalf("%s %q is not a clean path inside the repo", what, p)
			}
		}
		for _, b := range k.Bases {
			inside("base", b)
			if fi, err := src.Stat(b); err != nil || !fi.IsDir() {
				t.Fatalf("base %q is not a directory of the repo (%v)", b, err)
			}
		}
		for _, p := range k.Files {
			inside("file", p)
			if fi, err := src.Stat(p); err != nil || fi.IsDir() {
				t.Fatalf("file %q is not a file of the repo (%v)", p, err)
			}
		}
		for _, p := range k.Patches {
			if p.Inline == "" {
				inside("patch", p.File)
			}
			if p.Line < 1 {
				t.Fatalf("patch %+v without a line", p)
			}
		}
		for _, h := range k.HelmCharts {
			if h.Line < 1 || h.Node == nil {
				t.Fatalf("helm chart entry without a line: %+v", h)
			}
		}
		if k.Component != (scalar(k.Root, "kind") == "Component") {
			t.Fatalf("component %v, kind %q", k.Component, scalar(k.Root, "kind"))
		}
		// Every reference list is accounted for: an accepted entry of
		// resources, bases or components is a base or a file of the scan.
		listed := map[string]bool{}
		for _, p := range append(append([]string{}, k.Bases...), k.Files...) {
			listed[p] = true
		}
		for _, field := range []string{"resources", "bases", "components"} {
			for _, it := range seqItems(child(k.Root, field)) {
				p, err := source.Join(k.Dir, strings.TrimSpace(it.Value))
				if err != nil || !listed[p] {
					t.Fatalf("%s entry %q accepted but not listed as a base or file (%v)", field, it.Value, err)
				}
			}
		}
	})
}

// TestParseErrorLines pins the lines of the errors the fuzzer found without
// one: yaml.v3 reports none for invalid bytes, unknown anchors and errors on
// the first line; and a subtree reused through an alias must respect
// max-depth where it is reused.
func TestParseErrorLines(t *testing.T) {
	for _, tc := range []struct {
		in    string
		line  int
		msg   string
		limit string
	}{
		{"a: b: c\n", 1, "mapping values are not allowed", ""},
		{"a: b\nc: \"\xff\xfe\"\n", 2, "invalid leading UTF-8 octet", ""},
		{"a: b\nc: \x01\n", 2, "control characters are not allowed", ""},
		{"a: 1\nb: *nope\n", 2, "unknown anchor 'nope'", ""},
		{"a: 1\n---\nb: 2\nc: *x\n", 4, "unknown anchor 'x'", ""},
		{"a: &a [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]\nb: [[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]\n", 2, "nested deeper than 24 levels", "max-depth"},
	} {
		_, err := ParseDocs("f.yaml", []byte(tc.in), fuzzLimits)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: got %v, want a *ParseError", tc.in, err)
			continue
		}
		if pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) || pe.Limit != tc.limit {
			t.Errorf("%q: got line %d limit %q %q, want line %d limit %q and %q", tc.in, pe.Line, pe.Limit, pe.Msg, tc.line, tc.limit, tc.msg)
		}
	}
}

// TestRenderKeepsScalarsFuzzFound renders, through kustomize, the scalars
// yaml.v3 writes back changed (found by FuzzParseDocs): the rendered
// object must hold what `kustomize build` prints (measured with kustomize
// v5.8.1 and kubectl v1.32's kustomize): its writer adds a line break
// before the folded scalar's more-indented line and writes the empty null
// of a flow mapping as "". That text is what Argo CD and Flux apply.
func TestRenderKeepsScalarsFuzzFound(t *testing.T) {
	src := source.NewMem("scalars", map[string]string{
		"kustomization.yaml": "resources:\n- thing.yaml\n",
		"thing.yaml": "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: scalars\nspec:\n" +
			"  folded: >\n    first\n      indented\n    last\n" +
			"  list:\n  - |\n\n    after an empty line\n  - |2-\n     one space\n" +
			"  flow: {empty: }\n",
	})
	res := New(Options{}).Render(context.Background(), src, checks.Env{Name: "e", Path: "."})
	if len(res.Findings) > 0 || len(res.Resources) != 1 {
		t.Fatalf("render: %d resources, findings %+v", len(res.Resources), res.Findings)
	}
	spec, _ := res.Resources[0].Object["spec"].(map[string]any)
	got, _ := json.Marshal(spec)
	want := `{"flow":{"empty":""},"folded":"first\n\n  indented\nlast\n","list":["\nafter an empty line\n"," one space"]}`
	if string(got) != want {
		t.Errorf("rendered spec\n%s\nwant, as kustomize build prints it,\n%s", got, want)
	}
}
