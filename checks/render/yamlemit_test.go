package render

import (
	"math/rand/v2"
	"strings"
	"testing"

	yamlv2 "go.yaml.in/yaml/v2"
)

// emitStrings are scalars that put every branch of scalarForm, plainAsIs
// and resolvesToStr to work: keywords, numbers and near-numbers,
// indicators, spaces at the fold width, non-ASCII.
var emitStrings = []string{"", "plain", "yes", "Yes", "y", "n", "no", "on", "off", "true", "False", "null", "NULL", "~", "<<",
	"1", "0", "-1", "+1", "007", "0x1F", "0o17", "0b101", "-0b101", "1_000", "1e3", "1E-3", "-0", ".5", "5.", "+.5", ".inf", "-.Inf",
	".nan", "1.2.3", "100m", "128Mi", "0.5", "1e", "e1", "+", "-", ".", "..", "...", "---", "--x", "-x", "- x", "2026-01-01",
	"2026-1-2", "1234-", "20260-1", "12:30", "1:20:30", "a:b", "a:", "a: b", "image:1.2", "nginx:1.25", "http://x.y/z", "#x",
	"x#y", "x #y", "&a", "*a", "!tag", "%x", "@x", "`x", "'q'", `"q"`, "{a}", "[a]", "a,b", "a?", "?a", ":a", "a{b}",
	" leading", "trailing ", "two  spaces", "tab\there", "ctrl\x01", "del\x7f", "ünïcödé", "日本語", "emoji 🚀",
	"\u0085nel", "\ufeffbom", "a\\b", "$(VAR)", "${X}", "=", "a=b", "x/y_z.w-v", "<>&", "a|b", "a>b",
	strings.Repeat("x", 70), strings.Repeat("x", 130), strings.Repeat("word ", 15) + "end", strings.Repeat("w ", 30) + "x",
	"multi\nline\n", "no newline\nend", "crlf\r\n"}

// TestEmitObjectSameAsYAMLv2: whatever emitObject writes is what yaml.v2
// writes, over every emitStrings value as key and value at several
// depths, and it writes (rather than hands back) the common objects.
func TestEmitObjectSameAsYAMLv2(t *testing.T) {
	var cases []map[string]any
	for _, s := range emitStrings {
		cases = append(cases, map[string]any{
			"value": s, s: "k", "list": []any{s, map[string]any{"x": s, "deep": map[string]any{"deeper": map[string]any{"deepest": s}}}},
			"nested": []any{[]any{s, []any{s}}, map[string]any{s: []any{s}}},
		})
	}
	cases = append(cases,
		map[string]any{"i": int64(0), "neg": int64(-42), "big": int64(1 << 62), "b": true, "f": false, "n": nil},
		map[string]any{"empty": map[string]any{}, "list": []any{}, "nested": []any{[]any{}, map[string]any{}, map[string]any{"a": []any{nil}}}},
		map[string]any{"b10": int64(1), "a2": int64(2), "a10": int64(3), "A": int64(4), "_": int64(5), "1": int64(6), "-": int64(7),
			"a01": nil, "a1": nil, "a001": nil, "x0": nil, "x00": nil, "é": nil, "z": nil, "Z": nil, "9": nil, "10": nil},
		map[string]any{},
	)
	for i, c := range cases {
		checkEmit(t, i, c)
	}
	common := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "web", "image": "nginx:1.25", "args": []any{"--port=8080", "-v"}, "resources": map[string]any{"limits": map[string]any{"cpu": "100m", "memory": "128Mi"}}}}}}}}
	if _, ok := emitObject(common); !ok {
		t.Error("a common Deployment was handed back to yaml.v2")
	}
	checkEmit(t, -1, common)
}

func checkEmit(t *testing.T, i int, c map[string]any) {
	t.Helper()
	got, ok := emitObject(c)
	if !ok {
		return
	}
	want, err := yamlv2.Marshal(c)
	if err != nil {
		t.Fatalf("case %d: yaml.v2: %v", i, err)
	}
	if string(got) != string(want) {
		t.Errorf("case %d %q:\nyaml.v2:\n%s\nemitObject:\n%s", i, c, want, got)
	}
}

// FuzzEmitObject builds objects from the fuzzer's strings and shapes and
// compares emitObject with yaml.v2.
func FuzzEmitObject(f *testing.F) {
	for i, s := range emitStrings {
		f.Add(s, "key"+s, uint64(i))
	}
	f.Fuzz(func(t *testing.T, a, b string, seed uint64) {
		if !jsonStable(map[string]any{a: b}) {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		obj := randObject(rng, []string{a, b, a + " " + b, b + a}, 3).(map[string]any)
		checkEmit(t, 0, obj)
	})
}

func randObject(rng *rand.Rand, strs []string, depth int) any {
	pick := func() string { return strs[rng.IntN(len(strs))] }
	switch n := rng.IntN(8); {
	case depth == 3 || n < 3 && depth > 0:
		m := map[string]any{}
		for range rng.IntN(4) {
			m[pick()+strings.Repeat("k", rng.IntN(3))] = randObject(rng, strs, depth-1)
		}
		return m
	case n < 5 && depth > 0:
		var l []any
		for range rng.IntN(4) {
			l = append(l, randObject(rng, strs, depth-1))
		}
		if l == nil {
			l = []any{}
		}
		return l
	case n == 5:
		return int64(rng.IntN(1000) - 500)
	case n == 6:
		return rng.IntN(2) == 0
	}
	if rng.IntN(10) == 0 {
		return nil
	}
	return strings.Repeat(" ", rng.IntN(2)*rng.IntN(60)) + pick()
}
