// Package diff compares two renderings of an environment (base and head of
// a pull request, or live cluster and head) object by object. Objects are
// paired by identity (group, kind, namespace, name); each changed object gets
// a structured list of field changes and a unified YAML diff. Fields that
// never reach the cluster, or that the API server owns, are ignored by
// default. Secret values never appear: a Secret's data, stringData and
// value-carrying annotations are replaced by a short hash before anything is
// compared or printed.
package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
)

// DefaultContext is the number of context lines of a unified diff.
const DefaultContext = 3

// maxValueLen bounds a value shown in a FieldChange; the unified diff has the rest.
const maxValueLen = 400

// Options tune a diff.
type Options struct {
	// Ignore adds field path patterns to ignore (see DefaultIgnore for the syntax).
	Ignore []string
	// NoDefaultIgnore drops DefaultIgnore.
	NoDefaultIgnore bool
	// Context is the number of unified diff context lines; nil means 3.
	Context *int
	// OldName and NewName label the two sides in unified diffs ("base", "head").
	OldName, NewName string
	// Locate, when set, maps a changed field of a head object to its source
	// line, so a change points at the line that caused it.
	Locate checks.Locator
}

// FromConfig builds Options from gate.yaml's diff section.
func FromConfig(c config.Diff) Options {
	return Options{Ignore: c.Ignore, Context: c.ContextLines}
}

func (o Options) context() int {
	if o.Context == nil {
		return DefaultContext
	}
	return *o.Context
}

func (o Options) names() (string, string) {
	a, b := o.OldName, o.NewName
	if a == "" {
		a = "base"
	}
	if b == "" {
		b = "head"
	}
	return a, b
}

// generatedNameRe matches the content-hash suffix kustomize's
// configMapGenerator and secretGenerator append to names.
var generatedNameRe = regexp.MustCompile(`^(.+)-[2456789bcdfghkmt]{10}$`)

// GeneratedKey is kind, namespace and generator name of a ConfigMap or
// Secret whose name ends in kustomize's content hash, "" for any other
// object: two objects with the same key are one generator's output before
// and after its input changed.
func GeneratedKey(r *checks.Resource) string {
	if r.ID.Group != "" || (r.ID.Kind != "ConfigMap" && r.ID.Kind != "Secret") {
		return ""
	}
	m := generatedNameRe.FindStringSubmatch(r.ID.Name)
	if m == nil {
		return ""
	}
	return r.ID.Kind + "|" + r.ID.Namespace + "|" + m[1]
}

// Envs compares the base and head renderings of one environment. Objects
// are paired by ResourceID.Key (an apiVersion bump is a change). A generated
// ConfigMap or Secret whose hash suffix changed is paired with its
// predecessor and shown as one change (metadata.name among its fields),
// because that is what the author did: edit the generator's input. Changes
// are sorted by kind, namespace and name.
func Envs(base, head []*checks.Resource, opts Options) *checks.EnvDiff {
	baseBy := map[string]*checks.Resource{}
	for _, r := range base {
		baseBy[r.ID.Key()] = r
	}
	headBy := map[string]*checks.Resource{}
	for _, r := range head {
		headBy[r.ID.Key()] = r
	}
	var removed, added []*checks.Resource
	for _, r := range base {
		if headBy[r.ID.Key()] == nil {
			removed = append(removed, r)
		}
	}
	type pair struct{ a, b *checks.Resource }
	var pairs []pair
	for _, r := range head {
		if b := baseBy[r.ID.Key()]; b != nil {
			pairs = append(pairs, pair{b, r})
		} else {
			added = append(added, r)
		}
	}
	renamed := map[*checks.Resource]bool{}
	for _, p := range pairGenerated(removed, added) {
		pairs = append(pairs, pair{p[0], p[1]})
		renamed[p[0]], renamed[p[1]] = true, true
	}
	moved := identityMoves(removed, added, renamed, opts.Locate)
	out := &checks.EnvDiff{ByKind: map[string]int{}}
	for _, r := range removed {
		if !renamed[r] {
			c := Objects(r, nil, opts)
			if o, ok := moved[r]; ok {
				c.Origin = o
			}
			out.Changes = append(out.Changes, *c)
		}
	}
	for _, r := range added {
		if !renamed[r] {
			c := Objects(nil, r, opts)
			if o, ok := moved[r]; ok {
				c.Origin = o
			}
			out.Changes = append(out.Changes, *c)
		}
	}
	for _, p := range pairs {
		if c := Objects(p.a, p.b, opts); c != nil {
			out.Changes = append(out.Changes, *c)
		}
	}
	SortChanges(out.Changes)
	for _, c := range out.Changes {
		out.ByKind[c.ID.Kind]++
	}
	if out.Changes == nil {
		out.Changes = []checks.ResourceChange{}
	}
	return out
}

// pairGenerated pairs renamed generated objects: one removed and one added
// with the same generator name, kind and namespace (GeneratedKey).
func pairGenerated(removed, added []*checks.Resource) [][2]*checks.Resource {
	remByGen := map[string][]*checks.Resource{}
	for _, r := range removed {
		if k := GeneratedKey(r); k != "" {
			remByGen[k] = append(remByGen[k], r)
		}
	}
	addByGen := map[string][]*checks.Resource{}
	for _, r := range added {
		if k := GeneratedKey(r); k != "" {
			addByGen[k] = append(addByGen[k], r)
		}
	}
	var out [][2]*checks.Resource
	for k, rs := range remByGen {
		if as := addByGen[k]; len(rs) == 1 && len(as) == 1 {
			out = append(out, [2]*checks.Resource{rs[0], as[0]})
		}
	}
	return out
}

// identityMoves finds objects whose name or namespace changed: one removed
// and one added object of the same kind rendered from the same source
// document (the same file and line, else the only such pair of the file).
// The author changed a namespace, namePrefix or nameSuffix (or the name
// itself), not the document, so both entries stay a removal and an
// addition (what applying it does) but land on the line that set the new
// identity: loc's origin of the added object's metadata.namespace, or of
// metadata.name when the namespace is the same. Objects without a source
// file (live ones) are never paired. Without loc, nothing moves.
func identityMoves(removed, added []*checks.Resource, skip map[*checks.Resource]bool, loc checks.Locator) map[*checks.Resource]checks.Origin {
	out := map[*checks.Resource]checks.Origin{}
	if loc == nil {
		return out
	}
	paired := map[*checks.Resource]bool{}
	for _, key := range []func(r *checks.Resource) string{
		func(r *checks.Resource) string { return r.Origin.String() },
		func(r *checks.Resource) string { return r.Origin.File },
	} {
		group := func(rs []*checks.Resource) map[string][]*checks.Resource {
			m := map[string][]*checks.Resource{}
			for _, r := range rs {
				if skip[r] || paired[r] || r.Origin.File == "" {
					continue
				}
				k := r.ID.Group + "|" + r.ID.Kind + "|" + key(r)
				m[k] = append(m[k], r)
			}
			return m
		}
		rem, add := group(removed), group(added)
		for k, rs := range rem {
			as := add[k]
			if len(rs) != 1 || len(as) != 1 {
				continue
			}
			r, a := rs[0], as[0]
			field := []string{"metadata", "name"}
			if r.ID.Namespace != a.ID.Namespace {
				field = []string{"metadata", "namespace"}
			}
			o := loc.Locate(a, field)
			if o.IsZero() {
				continue
			}
			paired[r], paired[a] = true, true
			out[r], out[a] = o, o
		}
	}
	return out
}

// SortChanges orders changes stably by kind, namespace, name, group and action.
func SortChanges(cs []checks.ResourceChange) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i].ID, cs[j].ID
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return cs[i].Action < cs[j].Action
	})
}

// Objects compares one object on two sides: base nil means added, head nil
// means removed. It returns nil when the objects are equal once ignored
// fields are dropped. Secret values are redacted in every field.
func Objects(base, head *checks.Resource, opts Options) *checks.ResourceChange {
	if base == nil && head == nil {
		return nil
	}
	if base != nil && head != nil && reflect.DeepEqual(base.Object, head.Object) {
		return nil // the common case: nothing to prepare
	}
	pats := opts.patterns()
	oldName, newName := opts.names()
	var a, b map[string]any
	if base != nil {
		a = prepare(base, pats)
	}
	if head != nil {
		b = prepare(head, pats)
	}
	ctx := opts.context()
	switch {
	case base == nil:
		return &checks.ResourceChange{ID: head.ID, Action: checks.ActionAdded, Origin: head.Origin,
			Unified: Unified("/dev/null", newName+"/"+head.ID.String(), "", toYAML(b), ctx)}
	case head == nil:
		return &checks.ResourceChange{ID: base.ID, Action: checks.ActionRemoved, Origin: base.Origin,
			Unified: Unified(oldName+"/"+base.ID.String(), "/dev/null", toYAML(a), "", ctx)}
	}
	var fields []checks.FieldChange
	compare(a, b, nil, func(p []seg, o, n any, hasOld, hasNew bool) {
		fc := checks.FieldChange{Path: formatPath(p)}
		if hasOld {
			fc.Old = valueText(o)
		}
		if hasNew {
			fc.New = valueText(n)
		}
		if opts.Locate != nil {
			if o := opts.Locate.Locate(head, locPath(p)); !o.IsZero() {
				fc.Origin = &o
			}
		}
		fields = append(fields, fc)
	})
	if len(fields) == 0 {
		return nil
	}
	origin := head.Origin
	if fields[0].Origin != nil {
		origin = *fields[0].Origin
	}
	return &checks.ResourceChange{ID: head.ID, Action: checks.ActionChanged, Fields: fields, Origin: origin,
		Unified: Unified(oldName+"/"+base.ID.String(), newName+"/"+head.ID.String(), toYAML(a), toYAML(b), ctx)}
}

// prepare returns a private, JSON-normalised copy of the object with
// ignored fields dropped and Secret values redacted.
func prepare(r *checks.Resource, patterns []string) map[string]any {
	obj := normalize(r.Object)
	prune(obj, patterns)
	if IsSecret(r.ID) {
		redactSecret(obj)
	}
	return obj
}

// normalize deep-copies an object through JSON so numbers compare equal
// whatever decoder produced them (int, int64, float64).
func normalize(obj map[string]any) map[string]any {
	b, err := json.Marshal(obj)
	if err != nil {
		return deepCopyMap(obj)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil || out == nil {
		return map[string]any{}
	}
	return out
}

func deepCopyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyMap(t)
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = deepCopy(t[i])
		}
		return out
	}
	return v
}

type emitFunc func(p []seg, old, new any, hasOld, hasNew bool)

// compare walks two values and emits every difference at the shallowest
// path where it appears (a whole added subtree is one change).
func compare(a, b any, p []seg, emit emitFunc) {
	switch at := a.(type) {
	case map[string]any:
		bt, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(at)+len(bt))
		for k := range at {
			keys = append(keys, k)
		}
		for k := range bt {
			if _, ok := at[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			cp := append(p[:len(p):len(p)], seg{key: k})
			av, inA := at[k]
			bv, inB := bt[k]
			switch {
			case inA && inB:
				compare(av, bv, cp, emit)
			case inA:
				emit(cp, av, nil, true, false)
			default:
				emit(cp, nil, bv, false, true)
			}
		}
		return
	case []any:
		bt, ok := b.([]any)
		if !ok {
			break
		}
		if namedList(at, bt) {
			compareNamed(at, bt, p, emit)
			return
		}
		for i := 0; i < len(at) || i < len(bt); i++ {
			cp := append(p[:len(p):len(p)], seg{list: true, index: i})
			switch {
			case i < len(at) && i < len(bt):
				compare(at[i], bt[i], cp, emit)
			case i < len(at):
				emit(cp, at[i], nil, true, false)
			default:
				emit(cp, nil, bt[i], false, true)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		emit(p, a, b, true, true)
	}
}

// compareNamed pairs list items by name: head order first, then items
// only in base.
func compareNamed(a, b []any, p []seg, emit emitFunc) {
	aBy := map[string]any{}
	for _, it := range a {
		aBy[itemName(it)] = it
	}
	inB := map[string]bool{}
	for i, it := range b {
		n := itemName(it)
		inB[n] = true
		cp := append(p[:len(p):len(p)], seg{list: true, named: true, key: n, index: i})
		if av, ok := aBy[n]; ok {
			compare(av, it, cp, emit)
		} else {
			emit(cp, nil, it, false, true)
		}
	}
	for i, it := range a {
		n := itemName(it)
		if !inB[n] {
			emit(append(p[:len(p):len(p)], seg{list: true, named: true, key: n, index: i}), it, nil, true, false)
		}
	}
}

func itemName(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["name"].(string)
	return s
}

// namedList reports whether every item of both lists is a mapping with a
// unique, non-empty name.
func namedList(a, b []any) bool {
	if len(a)+len(b) == 0 {
		return false
	}
	for _, l := range [][]any{a, b} {
		seen := map[string]bool{}
		for _, it := range l {
			n := itemName(it)
			if n == "" || seen[n] {
				return false
			}
			seen[n] = true
		}
	}
	return true
}

// valueText renders a value for a FieldChange: scalars as they are,
// mappings and lists as one-line JSON (valid YAML flow style).
func valueText(v any) string {
	s := scalarText(v)
	if len(s) > maxValueLen {
		s = s[:maxValueLen] + fmt.Sprintf("… (%d more bytes)", len(s)-maxValueLen)
	}
	return s
}

func scalarText(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return t
	case json.Number:
		return t.String()
	case bool, int, int64, float64:
		return fmt.Sprint(t)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func toYAML(obj map[string]any) string {
	if obj == nil {
		return ""
	}
	b, err := sigsyaml.Marshal(obj)
	if err != nil {
		return fmt.Sprintf("# cannot encode object: %v\n", err)
	}
	return string(b)
}
