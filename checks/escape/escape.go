// Package escape holds one escaping function per medium gate writes text
// from a pull request into: a terminal (and the plain text GitHub shows in
// annotations), markdown (PR comments, job summaries, check-run summaries),
// SARIF URIs and YAML comments. Names, labels, values, messages and file
// names come from the head of a pull request, which is hostile: every sink
// passes such text through the function of its medium, never raw, so no
// escape sequence, bidi control, forged line, HTML tag or link survives.
package escape

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// hidden reports whether r changes how a terminal or an editor shows the
// text around it rather than showing a glyph: C0 and C1 controls (ESC
// starts ANSI and OSC-8 sequences), DEL, the format characters (bidi
// embeddings, overrides and isolates of Trojan Source, zero-width ones,
// the tag characters that smuggle ASCII unseen) and the line and
// paragraph separators.
func hidden(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	case r < 0xa0:
		return false
	}
	return unicode.Is(unicode.Cf, r)
}

// visible writes the escape that names r ("\n", "\x1b", "\u202e").
func visible(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	default:
		switch {
		case r < 0x100:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
}

// clean reports whether s needs no escaping for a terminal: valid UTF-8
// without a hidden character. It is the fast path of every function here.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			return cleanRunes(s[i:])
		}
	}
	return true
}

func cleanRunes(s string) bool {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if (r == utf8.RuneError && n == 1) || hidden(r) {
			return false
		}
		s = s[n:]
	}
	return true
}

// Terminal returns s as one line of terminal text: every control, escape,
// bidi or other invisible character (newlines included, so a name cannot
// forge a line such as "result: PASS") and every invalid UTF-8 byte is
// shown as a visible escape. Text that needs none comes back unchanged.
func Terminal(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case hidden(r):
			visible(&b, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// Lines escapes each line of a multi-line text (a unified diff, a YAML
// body) for a terminal: the line breaks stay, a carriage return or any
// other hidden character is shown as an escape.
func Lines(s string) string {
	if clean(strings.ReplaceAll(s, "\n", "")) {
		return s
	}
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = Terminal(p)
	}
	return strings.Join(parts, "\n")
}

// Comment returns s for a one-line comment (YAML "# Source: ..."): the
// same as Terminal, so a newline in a file name cannot end the comment and
// start a document of its own.
func Comment(s string) string { return Terminal(s) }

// mdSpecial is what CommonMark (with GitHub's extensions) reads as markup
// in running text: emphasis, code, links and images, HTML and entities,
// tables, strikethrough and the backslash itself.
const mdSpecial = "\\`*_[]<>|~&!"

// Markdown returns s as CommonMark text that shows s and nothing else:
// hidden characters as visible escapes, markup characters backslash-escaped
// ("<" and ">" as entities so no raw HTML, "[" and "!" so no link or
// image, "&" so no entity brings a character back), one line, and every word a GitHub autolink
// would turn into a link (a URL, "www.", an e-mail address) set as a code
// span, where nothing is a link.
func Markdown(s string) string {
	s = Terminal(s)
	if !strings.ContainsAny(s, mdSpecial) && !linkish(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			b.WriteByte(' ')
		}
		if linkish(w) {
			b.WriteString(Code(w))
			continue
		}
		for _, r := range w {
			switch {
			case r == '<':
				b.WriteString("&lt;")
			case r == '>':
				b.WriteString("&gt;")
			case r < 0x80 && strings.ContainsRune(mdSpecial, r):
				b.WriteByte('\\')
				b.WriteRune(r)
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// linkish reports whether GitHub's autolink extension could read a link in
// s: a scheme separator, a "www." host or an e-mail address.
func linkish(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, ":/") || strings.Contains(l, "www.") || strings.Contains(l, "@") ||
		strings.Contains(l, "mailto:") || strings.Contains(l, "xmpp:")
}

// Code returns s as a complete inline code span (backticks included):
// one line, hidden characters as visible escapes, a fence longer than any
// run of backticks in s, and "|" escaped so a table cell holding the span
// is not split (GitHub reads "\|" in a code span as "|"). Nothing inside a
// code span is HTML or a link.
func Code(s string) string {
	s = strings.ReplaceAll(Terminal(s), "|", `\|`)
	if s == "" {
		return "` `"
	}
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || (strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ") && strings.Trim(s, " ") != "") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// HTML returns s for HTML text or an attribute value in markdown (a
// <summary> of a <details> block): one line, hidden characters shown,
// the HTML metacharacters as entities.
func HTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(Terminal(s))
}

// Fence returns a backtick fence that no line of body can close.
func Fence(body string) string {
	fence := "```"
	for strings.Contains(body, fence) {
		fence += "`"
	}
	return fence
}

// uriKeep are the bytes a URI path keeps as they are: RFC 3986 unreserved
// characters and the segment separator.
func uriKeep(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
}

// URI returns a repo-relative path as an RFC 3986 relative reference
// (SARIF artifactLocation.uri): every byte but the unreserved ones and
// "/" is percent-encoded, so "#", "?", "%" and ":" stay part of the path
// and url.Parse gives the path back exactly.
func URI(path string) string {
	n := 0
	for i := 0; i < len(path); i++ {
		if !uriKeep(path[i]) {
			n++
		}
	}
	// "//" first would start an authority (a host): its first slash is
	// encoded.
	network := strings.HasPrefix(path, "//")
	if n == 0 && !network {
		return path
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(path)+2*n+2)
	for i := 0; i < len(path); i++ {
		c := path[i]
		if uriKeep(c) && !(i == 0 && network) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// Document returns a rendered YAML document (and the object it encodes)
// for a terminal. YAML writes bidi controls and other format characters
// raw; a document holding one is written as JSON instead, which YAML
// reads as the same object, with every hidden character as a \u escape.
// Documents without one, every honest document, come back unchanged.
func Document(doc []byte, obj any) ([]byte, error) {
	if s := string(doc); clean(strings.ReplaceAll(s, "\n", "")) {
		return doc, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, fmt.Errorf("writing a document with hidden characters as JSON: %w", err)
	}
	s := buf.String()
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		if r == '\n' || !hidden(r) {
			b.WriteRune(r)
			continue
		}
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return []byte(b.String()), nil
}
