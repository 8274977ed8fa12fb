package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gate-ops/gate/checks"
)

// hashLen is how many hex digits of the SHA-256 of a secret value are shown:
// enough to tell that a value changed (or that two values are the same),
// short enough not to be mistaken for the value.
const hashLen = 10

// secretAnnotationsAlwaysRedacted hold a copy of the whole object, values
// included, when a Secret was applied with kubectl.
var secretAnnotationsAlwaysRedacted = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
}

// minScrubLen is the shortest secret value scrubbed wherever it appears in
// free text. Values from minTokenLen up to it are scrubbed only as whole
// tokens (delimited by anything but letters, digits and . _ / -), so that
// a value "shop" hides in `holds "shop"` but "shop-prod" stays readable.
// Shorter values and the words true, false and null carry no secret a
// reader could use and would mangle ordinary text.
const (
	minScrubLen = 6
	minTokenLen = 3
)

var notSecretWords = map[string]bool{"true": true, "false": true, "null": true, "yes": true, "no": true}

// IsSecret reports whether r is a core/v1 Secret, whose values gate never prints.
func IsSecret(id checks.ResourceID) bool {
	return id.Group == "" && id.Kind == "Secret"
}

// SecretHash is the short hash gate shows in place of a secret value.
func SecretHash(value []byte) string {
	sum := sha256.Sum256(value)
	return "sha256:" + hex.EncodeToString(sum[:])[:hashLen]
}

func redactedValue(value []byte) string {
	return "<secret " + SecretHash(value) + ">"
}

// decodeData decodes a Secret data value; a value that is not base64 is
// hashed as it is (it is still a secret).
func decodeData(v any) []byte {
	s, _ := v.(string)
	if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err == nil {
		return b
	}
	return []byte(s)
}

// redactSecret replaces every value of a Secret (already a private copy) by
// its short hash: data (hash of the decoded value), stringData, and
// annotations that carry a copy of the values.
func redactSecret(obj map[string]any) {
	var plain [][]byte
	if data, ok := obj["data"].(map[string]any); ok {
		for k, v := range data {
			b := decodeData(v)
			plain = append(plain, b)
			if s, ok := v.(string); ok {
				plain = append(plain, []byte(s))
			}
			data[k] = redactedValue(b)
		}
	}
	if sd, ok := obj["stringData"].(map[string]any); ok {
		for k, v := range sd {
			s := scalarText(v)
			plain = append(plain, []byte(s))
			sd[k] = redactedValue([]byte(s))
		}
	}
	for _, field := range []string{"data", "stringData"} {
		if v, ok := obj[field]; ok && v != nil {
			if _, isMap := v.(map[string]any); !isMap {
				// Not a shape Kubernetes accepts (schema validation reports
				// it), but what the author wrote there is still secret.
				for _, l := range stringLeaves(v) {
					plain = append(plain, []byte(l), decodeData(l))
				}
				obj[field] = redactedValue([]byte(scalarText(v)))
			}
		}
	}
	md, _ := obj["metadata"].(map[string]any)
	for _, field := range []string{"annotations", "labels"} {
		ann, _ := md[field].(map[string]any)
		for k, v := range ann {
			s, _ := v.(string)
			if field == "annotations" && secretAnnotationsAlwaysRedacted[k] || leaks(s, plain) {
				ann[k] = "<redacted " + SecretHash([]byte(s)) + ">"
			}
		}
	}
}

func leaks(s string, values [][]byte) bool {
	for _, v := range values {
		if len(v) >= 4 && strings.Contains(s, string(v)) {
			return true
		}
	}
	return false
}

// SecretValues collects the values of every Secret among rs (decoded and as
// written), so free text (error messages, findings) can be scrubbed of them
// with a Scrubber.
func SecretValues(rs []*checks.Resource) []string {
	var out []string
	for _, r := range rs {
		if r == nil || !IsSecret(r.ID) {
			continue
		}
		if data, ok := r.Object["data"].(map[string]any); ok {
			for _, v := range data {
				s, _ := v.(string)
				out = append(out, s, string(decodeData(v)))
			}
		}
		if sd, ok := r.Object["stringData"].(map[string]any); ok {
			for _, v := range sd {
				s := scalarText(v)
				out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)))
			}
		}
		// data or stringData of the wrong shape (a string, a list): every
		// string in it, as written, decoded and encoded.
		for _, field := range []string{"data", "stringData"} {
			if v, ok := r.Object[field]; ok && v != nil {
				if _, isMap := v.(map[string]any); !isMap {
					for _, l := range stringLeaves(v) {
						out = append(out, l, string(decodeData(l)), base64.StdEncoding.EncodeToString([]byte(l)))
					}
				}
			}
		}
		out = append(out, annotationCopyValues(r.Object)...)
	}
	return out
}

// annotationCopyValues are the secret values held by the annotations that
// carry a copy of a Secret (last-applied-configuration): the annotation as
// a whole, and every data (as written and decoded) and stringData (as
// written and encoded) value of the copy, which may differ from the
// object's own values (the copy is of what was applied before).
func annotationCopyValues(obj map[string]any) []string {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	var out []string
	for k, v := range ann {
		s, _ := v.(string)
		if !secretAnnotationsAlwaysRedacted[k] || s == "" {
			continue
		}
		out = append(out, s)
		var cp map[string]any
		if json.Unmarshal([]byte(s), &cp) != nil {
			continue
		}
		for _, l := range stringLeaves(cp["data"]) {
			out = append(out, l, string(decodeData(l)))
		}
		for _, l := range stringLeaves(cp["stringData"]) {
			out = append(out, l, base64.StdEncoding.EncodeToString([]byte(l)))
		}
	}
	return out
}

// stringLeaves returns every string below v.
func stringLeaves(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, stringLeaves(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, x := range t {
			out = append(out, stringLeaves(x)...)
		}
		return out
	}
	return nil
}

// Scrubber removes known secret values from free text. The zero value and a
// nil *Scrubber scrub nothing.
type Scrubber struct {
	r      *strings.Replacer
	tokens *regexp.Regexp
	hashes map[string]string
}

// NewScrubber builds a scrubber for values (each line of a multi-line value
// is scrubbed too).
func NewScrubber(values []string) *Scrubber {
	seen := map[string]bool{}
	var long, short []string
	for _, v := range values {
		for _, line := range append(QuotedForms(v), strings.Split(v, "\n")...) {
			line = strings.TrimSpace(line)
			if seen[line] || notSecretWords[strings.ToLower(line)] {
				continue
			}
			seen[line] = true
			switch {
			case len(line) >= minScrubLen:
				long = append(long, line)
			case len(line) >= minTokenLen:
				short = append(short, line)
			}
		}
	}
	s := &Scrubber{hashes: map[string]string{}}
	// Longest first, so a value that contains another is replaced whole.
	byLen := func(vs []string) {
		sort.Slice(vs, func(i, j int) bool {
			if len(vs[i]) != len(vs[j]) {
				return len(vs[i]) > len(vs[j])
			}
			return vs[i] < vs[j]
		})
	}
	if len(long) > 0 {
		byLen(long)
		pairs := make([]string, 0, 2*len(long))
		for _, v := range long {
			pairs = append(pairs, v, "<redacted "+SecretHash([]byte(v))+">")
		}
		s.r = strings.NewReplacer(pairs...)
	}
	if len(short) > 0 {
		byLen(short)
		alts := make([]string, len(short))
		for i, v := range short {
			alts[i] = regexp.QuoteMeta(v)
			s.hashes[v] = "<redacted " + SecretHash([]byte(v)) + ">"
		}
		s.tokens = regexp.MustCompile(`(^|[^A-Za-z0-9._/-])(` + strings.Join(alts, "|") + `)($|[^A-Za-z0-9._/-])`)
	}
	return s
}

// QuotedForms returns v and the forms an error message or a policy's
// message quotes it in: Go's %q (also ASCII-only, as %+q writes it) and
// JSON, without their surrounding quotes. A value with a quote, a
// backslash, a tab or a non-ASCII character reads differently in each.
func QuotedForms(v string) []string {
	out := []string{v}
	inner := func(q string) {
		if len(q) >= 2 {
			if q = q[1 : len(q)-1]; q != v {
				out = append(out, q)
			}
		}
	}
	inner(strconv.Quote(v))
	inner(strconv.QuoteToASCII(v))
	if j, err := json.Marshal(v); err == nil {
		inner(string(j))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		inner(strings.TrimSuffix(buf.String(), "\n"))
	}
	return out
}

// Scrub returns text with every known secret value replaced by its short hash.
func (s *Scrubber) Scrub(text string) string {
	if s == nil {
		return text
	}
	if s.r != nil {
		text = s.r.Replace(text)
	}
	if s.tokens != nil {
		// Twice: adjacent tokens share a delimiter the first pass consumed.
		for i := 0; i < 2; i++ {
			text = s.tokens.ReplaceAllStringFunc(text, func(m string) string {
				sub := s.tokens.FindStringSubmatch(m)
				return sub[1] + s.hashes[sub[2]] + sub[3]
			})
		}
	}
	return text
}

func (s *Scrubber) empty() bool { return s == nil || (s.r == nil && s.tokens == nil) }

// ScrubFindings scrubs the message of every finding in place.
func (s *Scrubber) ScrubFindings(fs []checks.Finding) {
	if s.empty() {
		return
	}
	for i := range fs {
		fs[i].Message = s.Scrub(fs[i].Message)
		fs[i].Path = s.Scrub(fs[i].Path)
		fs[i].Waived = s.Scrub(fs[i].Waived)
		if fs[i].Details != nil {
			fs[i].Details, _ = s.scrubAny(fs[i].Details).(map[string]any)
		}
	}
}

// scrubAny returns a copy of a policy's details (a decoded JSON value)
// with every string, map key included, scrubbed: a deny object can carry
// the value in a field of its own.
func (s *Scrubber) scrubAny(v any) any {
	switch t := v.(type) {
	case string:
		return s.Scrub(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[s.Scrub(k)] = s.scrubAny(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = s.scrubAny(x)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, x := range t {
			out[i] = s.Scrub(x)
		}
		return out
	case bool, nil:
		return t
	case json.Number, float64, int, int64:
		// A numeric value (a PIN) leaks as its decimal form.
		if txt := fmt.Sprint(t); s.Scrub(txt) != txt {
			return s.Scrub(txt)
		}
		return t
	}
	// Any other shape is written as its JSON form, scrubbed.
	b, err := json.Marshal(v)
	if err != nil {
		return "<unprintable>"
	}
	return s.Scrub(string(b))
}

// ScrubDiff scrubs the values of an EnvDiff in place: a belt to the braces
// of structured redaction, for secret values copied into other objects (a
// kustomize replacement can copy one into a label without the author
// knowing it). Values of six bytes or more are scrubbed everywhere; short
// ones as whole words in what the change adds or removes (field changes,
// the +/- lines of a unified diff), not in the unchanged context lines,
// where a short value ("shop") is far more often the app's name than a
// leak.
func (s *Scrubber) ScrubDiff(d *checks.EnvDiff) {
	if s.empty() || d == nil {
		return
	}
	for i := range d.Changes {
		c := &d.Changes[i]
		c.Unified = s.scrubUnified(c.Unified)
		for j := range c.Fields {
			c.Fields[j].Path = s.Scrub(c.Fields[j].Path)
			c.Fields[j].Old = s.Scrub(c.Fields[j].Old)
			c.Fields[j].New = s.Scrub(c.Fields[j].New)
		}
	}
}

// scrubUnified scrubs a unified diff: long values on every line, short
// ones on the lines the change adds or removes.
func (s *Scrubber) scrubUnified(u string) string {
	if s.r != nil {
		u = s.r.Replace(u)
	}
	if s.tokens == nil || u == "" {
		return u
	}
	lines := strings.SplitAfter(u, "\n")
	for i, l := range lines {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++ ") && !strings.HasPrefix(l, "--- ") {
			lines[i] = l[:1] + s.Scrub(l[1:])
		}
	}
	return strings.Join(lines, "")
}
