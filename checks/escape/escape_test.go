package escape

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestTerminal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain name-1.yaml", "plain name-1.yaml"},
		{"ünïcode ✓", "ünïcode ✓"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x1b]8;;https://x\x07link\x1b]8;;\x07", `\x1b]8;;https://x\x07link\x1b]8;;\x07`},
		{"a\u202eevil\u202c", `a\u202eevil\u202c`},
		{"x\nresult: PASS", `x\nresult: PASS`},
		{"cr\rtab\t", `cr\rtab\t`},
		{"\xff\xfe", `\xff\xfe`},
		{"\u0085\u009b", `\x85\x9b`},
		{"tag\U000E0041", `tag\U000e0041`},
		{"zw\u200b\ufeff", `zw\u200b\ufeff`},
		{"del\x7f", `del\x7f`},
	} {
		if got := Terminal(tc.in); got != tc.want {
			t.Errorf("Terminal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLines(t *testing.T) {
	in := "-a: \x1b[2J\n+b: ok\r\n"
	if got, want := Lines(in), "-a: \\x1b[2J\n+b: ok\\r\n"; got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := Lines("plain\nlines\n"); got != "plain\nlines\n" {
		t.Errorf("Lines changed plain text: %q", got)
	}
}

func TestMarkdown(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"image uses :latest", "image uses :latest"},
		{"<img src=x>", "&lt;img src=x&gt;"},
		{"[a](b)", `\[a\](b)`},
		{"![a](b)", `\!\[a\](b)`},
		{"see https://evil.example/x now", "see `https://evil.example/x` now"},
		{"www.evil.example", "`www.evil.example`"},
		{"a@b.example", "`a@b.example`"},
		{"a\\b `c` *d* _e_ ~f~ | &amp;", "a\\\\b \\`c\\` \\*d\\* \\_e\\_ \\~f\\~ \\| \\&amp;"},
		{"line\nforged", `line\\nforged`},
		{"\u202e", `\\u202e`},
	} {
		if got := Markdown(tc.in); got != tc.want {
			t.Errorf("Markdown(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Deployment/shop/web", "`Deployment/shop/web`"},
		{"a`b", "``a`b``"},
		{"`x`", "`` `x` ``"},
		{"a|b\n", "`a\\|b\\n`"},
	} {
		if got := Code(tc.in); got != tc.want {
			t.Errorf("Code(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"overlays/prod/deploy.yaml", "overlays/prod/deploy.yaml"},
		{"a b/c#d?e", "a%20b/c%23d%3Fe"},
		{"%2e%2e/x", "%252e%252e/x"},
		{"c:/x", "c%3A/x"},
		{"ü.yaml", "%C3%BC.yaml"},
	} {
		if got := URI(tc.in); got != tc.want {
			t.Errorf("URI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var seeds = []string{
	"", "plain", "\x1b[31mred", "\x1b]8;;https://x\x07l\x1b]8;;\x07", "a\u202eb", "x\nresult: PASS", "<img src=x onerror=y>",
	"[a](https://x)", "![i](https://x)", "https://x.example", "www.x.example", "a@x.example", "&#x202e;", "\\`", "``", "|",
	"%2e%2e/#?", "\xff", "\U000E0041", "<details>", "a:b", "..", "/abs", "~~~",
}

// hiddenIn reports the first character of out a terminal would act on.
func hiddenIn(out string) (rune, bool) {
	for _, r := range out {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r) {
			return r, true
		}
	}
	return 0, false
}

// FuzzTerminal: no control, escape, bidi or invalid byte reaches a
// terminal, and text that needs no escape is left as it is.
func FuzzTerminal(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Terminal(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Terminal(%q) = %q: invalid UTF-8", s, out)
		}
		if r, bad := hiddenIn(out); bad && !(r == utf8.RuneError && strings.ContainsRune(s, utf8.RuneError)) {
			t.Fatalf("Terminal(%q) = %q: %U reaches the terminal", s, out, r)
		}
		if _, bad := hiddenIn(s); !bad && utf8.ValidString(s) && out != s {
			t.Fatalf("Terminal changed clean text %q to %q", s, out)
		}
		for _, l := range strings.Split(Lines(s), "\n") {
			if r, bad := hiddenIn(l); bad && !(r == utf8.RuneError && strings.ContainsRune(s, utf8.RuneError)) {
				t.Fatalf("Lines(%q): %U reaches the terminal", s, r)
			}
		}
	})
}

// FuzzMarkdown: no raw HTML, link, image, entity or line break from the
// text reaches markdown; outside code spans every markup character is
// escaped.
func FuzzMarkdown(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Markdown(s)
		if strings.ContainsAny(out, "\n\r") {
			t.Fatalf("Markdown(%q) = %q: a line break", s, out)
		}
		if r, bad := hiddenIn(out); bad && !(r == utf8.RuneError && strings.ContainsRune(s, utf8.RuneError)) {
			t.Fatalf("Markdown(%q) = %q: hidden %U", s, out, r)
		}
		// Outside code spans: every special character escaped, no
		// autolink trigger.
		for _, w := range strings.Split(out, " ") {
			if strings.HasPrefix(w, "`") && strings.HasSuffix(w, "`") {
				continue
			}
			for i := 0; i < len(w); i++ {
				switch c := w[i]; {
				case strings.HasPrefix(w[i:], "&lt;") || strings.HasPrefix(w[i:], "&gt;"):
					i += 3
				case c == '\\':
					i++
				case strings.IndexByte(mdSpecial, c) >= 0:
					t.Fatalf("Markdown(%q) = %q: unescaped %q", s, out, c)
				}
			}
			if linkish(w) {
				t.Fatalf("Markdown(%q) = %q: %q could be autolinked", s, out, w)
			}
		}
		code := Code(s)
		if strings.ContainsAny(code, "\n\r") {
			t.Fatalf("Code(%q) = %q: a line break", s, code)
		}
		n := 0
		for n < len(code) && code[n] == '`' {
			n++
		}
		inner := code[n : len(code)-n]
		if strings.Contains(inner, code[:n]) || !strings.HasSuffix(code, code[:n]) {
			t.Fatalf("Code(%q) = %q: the span can be closed early", s, code)
		}
		if h := HTML(s); strings.ContainsAny(h, "<>\"'\n") {
			t.Fatalf("HTML(%q) = %q: markup left", s, h)
		}
	})
}

// FuzzURI: a SARIF URI parses back to the repo-relative path, with no
// scheme, host, query or fragment.
func FuzzURI(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		uri := URI(p)
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("URI(%q) = %q does not parse: %v", p, uri, err)
		}
		if u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.User != nil {
			t.Fatalf("URI(%q) = %q is not a relative path: %#v", p, uri, u)
		}
		if u.Path != p {
			t.Fatalf("URI(%q) = %q parses back to %q", p, uri, u.Path)
		}
	})
}

func TestDocument(t *testing.T) {
	honest := []byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  k: \"ünï\"\n")
	if got, _ := Document(honest, nil); string(got) != string(honest) {
		t.Errorf("an honest document changed: %q", got)
	}
	obj := map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": "a\u202eb\U000E0041"}}
	got, err := Document([]byte("kind: ConfigMap\nmetadata:\n  name: a\u202eb\U000E0041\n"), obj)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\\u202eb\\udb40\\udc41\"}}\n"; string(got) != want {
		t.Errorf("Document = %q, want %q", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil || back["metadata"].(map[string]any)["name"] != "a\u202eb\U000E0041" {
		t.Errorf("the JSON form does not read back as the object: %v %v", back, err)
	}
}
