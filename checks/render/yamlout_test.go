package render

import (
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

// TestMarshalObjectSameAsSigsYAML: the direct path must write what
// sigs.k8s.io/yaml writes, for every kind of value a rendered object holds,
// and values it cannot vouch for must take sigs.k8s.io/yaml's own path.
func TestMarshalObjectSameAsSigsYAML(t *testing.T) {
	long := strings.Repeat("word ", 40)
	strs := []string{"", "plain", "yes", "no", "on", "off", "true", "null", "~", "1", "0x1F", "1e3", "-0", ".5", "1_000",
		"2026-01-01", "12:30", " leading", "trailing ", "a: b", "- x", "#x", "x #y", "&a", "*a", "!tag", "%x", "@x", "`x",
		"'q'", `"q"`, "{a}", "[a]", "a,b", "multi\nline\n", "no newline\nend", "tab\there", "crlf\r\n", long, long + "\n" + long,
		"ünïcödé", "日本語", "emoji 🚀", "\u0085nel", "\ufeffbom", "\u2028sep", "ctrl\x01", "nul\x00", "invalid \xff utf8", "\ufffd", "<>&"}
	var cases []map[string]any
	for _, s := range strs {
		cases = append(cases, map[string]any{"value": s, s + "key": "k", "list": []any{s, map[string]any{"x": s}}})
	}
	cases = append(cases,
		map[string]any{"i": int64(0), "neg": int64(-42), "big": int64(1 << 62), "b": true, "f": false, "n": nil},
		map[string]any{"empty": map[string]any{}, "list": []any{}, "nested": []any{[]any{}, map[string]any{"a": []any{nil}}}},
		map[string]any{"b10": 1, "a2": 2, "a10": 3, "A": 4, "_": 5, "1": 6, "-": 7},
		map[string]any{"float": 1.5, "whole": 3.0, "negzero": -0.0, "tiny": 1e-7, "huge": 5e20},
		map[string]any{"typednil": map[string]any(nil), "typednillist": []any(nil)},
		map[string]any{"int": 7},
	)
	for i, c := range cases {
		want, werr := sigsyaml.Marshal(c)
		got, gerr := marshalObject(c)
		if (werr != nil) != (gerr != nil) || string(got) != string(want) {
			t.Errorf("case %d %q:\nsigs.k8s.io/yaml (err %v):\n%s\nmarshalObject (err %v):\n%s", i, c, werr, want, gerr, got)
		}
	}
	for _, c := range []map[string]any{cases[len(cases)-1], cases[len(cases)-2], cases[len(cases)-3]} {
		if jsonStable(c) {
			t.Errorf("%v took the direct path; only values a JSON round trip keeps may", c)
		}
	}
	if !jsonStable(cases[0]) {
		t.Error("a plain object took the slow path")
	}
}
