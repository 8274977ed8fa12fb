package render

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// emitObject writes obj as yaml.v2's Marshal does, without its reflection
// and event queue (yaml.v2 keeps every event of a document in a growing
// slice: a tenth of a large render's allocations). It handles the values
// jsonStable admits and writes each scalar the way yaml.v2's emitter
// chooses to (scalarForm); it reports false, having written nothing
// trustworthy, when a value would need what only yaml.v2's emitter knows:
// a multi-line string, a long string that yaml.v2 would fold at its line
// width, a key too long for a simple key, a map whose key order is not
// total. marshalObject then asks yaml.v2. TestEmitObjectSameAsYAMLv2 and
// FuzzEmitObject compare the two byte for byte.
func emitObject(obj map[string]any) ([]byte, bool) {
	if len(obj) == 0 {
		return []byte("{}\n"), true
	}
	e := emitter{buf: make([]byte, 0, 1024)}
	if !e.mapping(obj, 0, false) {
		return nil, false
	}
	return e.buf, true
}

// yamlWidth is yaml.v2's best_width: a plain or quoted scalar may be
// broken at a space once the line is past it.
const yamlWidth = 80

type emitter struct {
	buf  []byte
	keys []string
}

// col is the column the next byte is written at.
func (e *emitter) col() int {
	return len(e.buf) - (bytes.LastIndexByte(e.buf, '\n') + 1)
}

func (e *emitter) indent(n int) {
	for range n {
		e.buf = append(e.buf, ' ')
	}
}

// mapping writes a non-empty map at indent; inline when it starts right
// after a sequence's "- ".
func (e *emitter) mapping(m map[string]any, indent int, inline bool) bool {
	keys, ok := v2SortedKeys(m)
	if !ok {
		return false
	}
	for i, k := range keys {
		if i > 0 || !inline {
			e.indent(indent)
		}
		form, ok := scalarForm(k, e.col(), true)
		if !ok {
			return false
		}
		e.buf = append(e.buf, form...)
		e.buf = append(e.buf, ':')
		if !e.value(m[k], indent, false) {
			return false
		}
	}
	return true
}

// sequence writes a non-empty list at indent (yaml.v2 does not indent a
// list that is a map's value); inline after a parent "- ".
func (e *emitter) sequence(s []any, indent int, inline bool) bool {
	for i, v := range s {
		if i > 0 || !inline {
			e.indent(indent)
		}
		e.buf = append(e.buf, '-')
		if !e.value(v, indent, true) {
			return false
		}
	}
	return true
}

// value writes v after a map key's ":" or a list's "-" (inSeq), and the
// line break after it.
func (e *emitter) value(v any, indent int, inSeq bool) bool {
	switch t := v.(type) {
	case map[string]any:
		switch {
		case len(t) == 0:
			e.buf = append(e.buf, " {}\n"...)
		case inSeq:
			e.buf = append(e.buf, ' ')
			return e.mapping(t, indent+2, true)
		default:
			e.buf = append(e.buf, '\n')
			return e.mapping(t, indent+2, false)
		}
		return true
	case []any:
		switch {
		case len(t) == 0:
			e.buf = append(e.buf, " []\n"...)
		case inSeq:
			e.buf = append(e.buf, ' ')
			return e.sequence(t, indent+2, true)
		default:
			e.buf = append(e.buf, '\n')
			return e.sequence(t, indent, false)
		}
		return true
	case string:
		e.buf = append(e.buf, ' ')
		form, ok := scalarForm(t, e.col(), false)
		if !ok {
			return false
		}
		e.buf = append(e.buf, form...)
	case nil:
		e.buf = append(e.buf, " null"...)
	case bool:
		e.buf = append(e.buf, ' ')
		e.buf = strconv.AppendBool(e.buf, t)
	case int64:
		e.buf = append(e.buf, ' ')
		e.buf = strconv.AppendInt(e.buf, t, 10)
	default:
		return false
	}
	e.buf = append(e.buf, '\n')
	return true
}

// v2SortedKeys orders m's keys as yaml.v2 does (keyLess); false when the
// order is not certain. keyLess is a total order on keys without digits;
// with digits it can go round in a circle (leading zeros), and yaml.v2's
// order then depends on the map's iteration order. So keys with digits
// are checked pair by pair, for maps of up to 32 keys.
func v2SortedKeys(m map[string]any) ([]string, bool) {
	keys := make([]string, 0, len(m))
	digits := false
	for k := range m {
		keys = append(keys, k)
		digits = digits || strings.ContainsAny(k, "0123456789") || !isASCII(k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	if digits {
		if len(keys) > 32 {
			return nil, false
		}
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if !keyLess(keys[i], keys[j]) || keyLess(keys[j], keys[i]) {
					return nil, false
				}
			}
		}
		return keys, true
	}
	for i := 1; i < len(keys); i++ {
		if !keyLess(keys[i-1], keys[i]) {
			return nil, false
		}
	}
	return keys, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// keyLess is yaml.v2's order of string map keys (keyList.Less): letters
// by code point, letters before other characters, runs of digits by
// their number.
func keyLess(a, b string) bool {
	ar, br := []rune(a), []rune(b)
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al, bl := unicode.IsLetter(ar[i]), unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an, bn = 1, 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}

// scalarForm is how yaml.v2 writes string s starting at column col: as is
// when it is certainly a plain scalar there (plainAsIs), else as yaml.v2
// writes s alone. That form holds anywhere in a block document as long as
// yaml.v2 cannot break it: a string without spaces is never broken, one
// with spaces only once the line passes yamlWidth. Multi-line strings
// (literal blocks, indented by context) and keys yaml.v2 would not write
// as simple keys are not answered (false).
func scalarForm(s string, col int, key bool) (string, bool) {
	if key && len(s) > 120 {
		return "", false
	}
	spaces := strings.IndexByte(s, ' ') >= 0
	if plainAsIs(s) {
		if spaces && col+len(s) > yamlWidth {
			return "", false
		}
		return s, true
	}
	// Line breaks, YAML's included (NEL, LS, PS), make a multi-line scalar.
	if strings.ContainsAny(s, "\n\r\u0085\u2028\u2029") || !utf8.ValidString(s) {
		return "", false
	}
	out, err := yamlv2.Marshal(s)
	if err != nil || len(out) == 0 || out[len(out)-1] != '\n' {
		return "", false
	}
	form := string(out[:len(out)-1])
	if strings.IndexByte(form, '\n') >= 0 || (spaces && col+len(form) > yamlWidth) {
		return "", false
	}
	return form, true
}

// plainAsIs reports whether yaml.v2 certainly writes s as a plain scalar,
// unchanged, in block context: printable ASCII, no indicator where the
// emitter's analysis would see one (yaml_emitter_analyze_scalar), and a
// string that does not read back as another type (resolvesToStr).
// Anything it is unsure of answers false and yaml.v2 decides.
func plainAsIs(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	switch s[0] {
	case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '?', ':', '-':
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c > 0x7e:
			return false
		case c == ':':
			// "a: b" is a mapping; "1:20" a base-60 float yaml.v2
			// quotes. Only after a letter-led start, never before a
			// space or at the end.
			if i+1 == len(s) || s[i+1] == ' ' || !isLetter(s[0]) {
				return false
			}
		case c == '#':
			if s[i-1] == ' ' {
				return false
			}
		}
	}
	return resolvesToStr(s)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// resolvesToStr reports whether s, written plain, reads back as a string
// under yaml.v2's resolver (resolve.go): not a bool, null, number, float
// keyword, merge key or timestamp. Strings that could be a timestamp
// answer false (yaml.v2 decides).
func resolvesToStr(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
		"", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
		"+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<":
		return false
	}
	switch c := s[0]; {
	case c == '.':
		_, err := strconv.ParseFloat(s, 64)
		return err != nil
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		if len(s) > 4 && s[4] == '-' {
			return false // perhaps a timestamp
		}
		plain := strings.ReplaceAll(s, "_", "")
		if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return false
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return false
		}
		if yamlStyleFloat(plain) {
			if _, err := strconv.ParseFloat(plain, 64); err == nil {
				return false
			}
		}
		if strings.HasPrefix(plain, "0b") || strings.HasPrefix(plain, "-0b") {
			return false
		}
	}
	return true
}

// yamlStyleFloat is yaml.v2's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
func yamlStyleFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
