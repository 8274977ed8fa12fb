package diff

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
)

// fuzzCanary marks the secret value of a fuzz case; it must never appear in a
// diff, in clear or base64 (YzRuNHJ5 is base64 of "c4n4ry", whatever follows).
const (
	fuzzCanary    = "c4n4ry"
	fuzzCanaryB64 = "YzRuNHJ5"
)

// fuzzResource decodes a fuzzed object as the renderer's objects are
// (YAML or JSON to map[string]any) and gives it its identity.
func fuzzResource(data []byte) *checks.Resource {
	var obj map[string]any
	if err := sigsyaml.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil
	}
	return identify(obj)
}

func identify(obj map[string]any) *checks.Resource {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	g, v := checks.ParseAPIVersion(apiVersion)
	return &checks.Resource{ID: checks.ResourceID{Group: g, Version: v, Kind: kind, Namespace: ns, Name: name}, Object: obj,
		Origin: checks.Origin{File: "x.yaml", Line: 1}}
}

// asSecret turns a fuzzed object into a core/v1 Secret that carries the
// fuzzCanary value in the place where selects: a data value (base64), a
// stringData value, a data value that is not base64, a copy in an
// annotation, or data and stringData of the wrong shape (a string, a list)
// that no schema check runs before the diff does.
func asSecret(obj map[string]any, where byte, value string) *checks.Resource {
	cp := deepCopyMap(obj)
	cp["apiVersion"], cp["kind"] = "v1", "Secret"
	md, _ := cp["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{"name": "s"}
		cp["metadata"] = md
	}
	data, _ := cp["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	sd, _ := cp["stringData"].(map[string]any)
	if sd == nil {
		sd = map[string]any{}
	}
	// A value in a string field came from YAML or JSON, so it is valid
	// UTF-8; only base64 data carries arbitrary bytes.
	text := strings.ToValidUTF8(value, "?")
	switch where % 7 {
	case 0:
		data["password"] = base64.StdEncoding.EncodeToString([]byte(value))
		cp["data"] = data
	case 1:
		sd["password"] = text
		cp["stringData"] = sd
	case 2:
		data["password"] = text // not base64: still a secret
		cp["data"] = data
	case 3:
		data["password"] = base64.StdEncoding.EncodeToString([]byte(text))
		cp["data"] = data
		ann, _ := md["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
			md["annotations"] = ann
		}
		ann["example.com/copy"] = "was " + text
	case 4:
		cp["stringData"] = "password=" + text
	case 5:
		cp["data"] = []any{base64.StdEncoding.EncodeToString([]byte(value))}
	case 6:
		cp["stringData"] = map[string]any{"nested": map[string]any{"password": text}}
	}
	return identify(cp)
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

// changeText is everything a sink can print of a diff.
func changeText(d *checks.EnvDiff) string {
	var b strings.Builder
	for _, c := range d.Changes {
		b.WriteString(c.ID.String() + "\n" + c.Unified + "\n")
		for _, f := range c.Fields {
			b.WriteString(f.Path + "\n" + f.Old + "\n" + f.New + "\n")
		}
	}
	return b.String()
}

// FuzzDiff compares two fuzzed objects. Beyond not panicking it asserts:
// an object diffed with itself (or a copy) has no change; diffing never
// changes its inputs; a→b changes exactly the field paths b→a does, with old
// and new swapped; an environment diff holds one change per differing
// identity and counts them by kind; and a Secret's value, planted as a
// fuzzCanary in every place a value can hide, never appears in the diff that
// the engine hands to sinks (structured redaction, then the scrubber).
func FuzzDiff(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b []byte, where byte, secret string) {
		if len(a) > 8<<10 || len(b) > 8<<10 || len(secret) > 256 {
			return
		}
		ra, rb := fuzzResource(a), fuzzResource(b)
		if ra == nil || rb == nil {
			return
		}
		beforeA, beforeB := jsonText(t, ra.Object), jsonText(t, rb.Object)

		// Identity: nothing changed, nothing to show.
		if c := Objects(ra, ra, Options{}); c != nil {
			t.Fatalf("an object diffed with itself changed: %+v", c.Fields)
		}
		if c := Objects(ra, identify(deepCopyMap(ra.Object)), Options{}); c != nil {
			t.Fatalf("an object diffed with its copy changed: %+v", c.Fields)
		}
		// (Two objects with one identity never come out of one render.)
		if d := Envs([]*checks.Resource{ra, rb}, []*checks.Resource{ra, rb}, Options{}); ra.ID.Key() != rb.ID.Key() && len(d.Changes) != 0 {
			t.Fatalf("an environment diffed with itself changed: %+v", d.Changes)
		}

		// Symmetry.
		ab, ba := Objects(ra, rb, Options{}), Objects(rb, ra, Options{})
		if (ab == nil) != (ba == nil) {
			t.Fatalf("a->b changed %v, b->a changed %v", ab != nil, ba != nil)
		}
		if ab != nil {
			if ab.Action != checks.ActionChanged || len(ab.Fields) == 0 || ab.Unified == "" {
				t.Fatalf("a change without fields or text: %+v", ab)
			}
			back := map[string]checks.FieldChange{}
			for _, fc := range ba.Fields {
				back[fc.Path] = fc
			}
			if len(back) != len(ab.Fields) {
				t.Fatalf("a->b changed %d fields, b->a %d", len(ab.Fields), len(ba.Fields))
			}
			for _, fc := range ab.Fields {
				r, ok := back[fc.Path]
				if !ok || r.Old != fc.New || r.New != fc.Old {
					t.Fatalf("field %s: a->b %q -> %q, b->a %+v (found %v)", fc.Path, fc.Old, fc.New, r, ok)
				}
			}
		}

		// Environment diff: one change per differing identity.
		d := Envs([]*checks.Resource{ra}, []*checks.Resource{rb}, Options{})
		n := 0
		for _, c := range d.Changes {
			n++
			if c.Action != checks.ActionAdded && c.Action != checks.ActionRemoved && c.Action != checks.ActionChanged {
				t.Fatalf("change with action %q", c.Action)
			}
		}
		total := 0
		for _, k := range d.ByKind {
			total += k
		}
		if total != n {
			t.Fatalf("ByKind counts %d changes, there are %d", total, n)
		}
		if ra.ID.Key() == rb.ID.Key() && n != map[bool]int{true: 1, false: 0}[ab != nil] {
			t.Fatalf("same identity, %d changes (objects differ: %v)", n, ab != nil)
		}
		if ra.ID.Key() != rb.ID.Key() && (n < 1 || n > 2) {
			t.Fatalf("different identities, %d changes", n)
		}

		if jsonText(t, ra.Object) != beforeA || jsonText(t, rb.Object) != beforeB {
			t.Fatalf("diffing changed its inputs")
		}

		// Secrets: plant the fuzzCanary, diff as the engine does, look for it.
		if strings.Contains(string(a)+string(b), fuzzCanary) || strings.Contains(string(a)+string(b), fuzzCanaryB64) {
			return
		}
		value := fuzzCanary + secret
		sa := asSecret(ra.Object, where, value)
		sb := asSecret(rb.Object, where+1, fuzzCanary+strings.ToUpper(secret)+"x")
		for _, pair := range [][2][]*checks.Resource{
			{{sa}, {sb}}, {nil, {sa}}, {{sa}, nil}, {{ra}, {sa}},
		} {
			all := append(append([]*checks.Resource{}, pair[0]...), pair[1]...)
			d := Envs(pair[0], pair[1], Options{})
			NewScrubber(SecretValues(all)).ScrubDiff(d)
			text := changeText(d)
			if strings.Contains(text, fuzzCanary) || strings.Contains(text, fuzzCanaryB64) {
				t.Fatalf("a Secret value leaked into the diff (placement %d):\n%s", where%7, text)
			}
		}
	})
}
