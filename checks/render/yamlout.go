package render

import (
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

// marshalObject writes a rendered object as YAML, byte for byte what
// sigs.k8s.io/yaml.Marshal writes (the form gate has always shown and the
// golden files hold), without its detour through JSON: Marshal encodes
// the object to JSON and parses that back with yaml.v2 before writing it,
// which was a tenth of a large render. For the values a decoded object
// holds (maps with string keys, lists, strings, int64, bools, nulls) the
// detour changes nothing, so yaml.v2 writes the object directly. Anything
// else (floats, whose JSON form may come back as an int, invalid UTF-8,
// which JSON replaces, typed nils, which JSON writes as null) takes the
// detour.
func marshalObject(obj map[string]any) ([]byte, error) {
	if !jsonStable(obj) {
		return sigsyaml.Marshal(obj)
	}
	if b, ok := emitObject(obj); ok {
		return b, nil
	}
	return yamlv2.Marshal(obj)
}

// jsonStable reports whether v comes back from a JSON round trip as the
// same yaml.v2 value.
func jsonStable(v any) bool { return stableValue(v, false) }

// stableValue is jsonStable, admitting Go ints as well when withInt (a
// value kustomize decoded, before normalization).
func stableValue(v any, withInt bool) bool {
	switch t := v.(type) {
	case nil, bool, int64:
		return true
	case int:
		return withInt
	case string:
		return plainText(t)
	case map[string]any:
		if t == nil {
			return false
		}
		for k, x := range t {
			if !plainText(k) || !stableValue(x, withInt) {
				return false
			}
		}
		return true
	case []any:
		if t == nil {
			return false
		}
		for _, x := range t {
			if !stableValue(x, withInt) {
				return false
			}
		}
		return true
	}
	return false
}

// plainText reports whether s is valid UTF-8 made only of characters YAML
// can hold unescaped (what yaml.v2 reads back from JSON without error).
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t', r == '\n', r == '\r', r >= 0x20 && r <= 0x7e:
		case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd && r != 0xfeff, r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}
