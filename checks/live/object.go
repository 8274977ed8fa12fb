package live

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
)

// serverOwnedMetadata are metadata fields the API server sets; they differ
// between any two reads and never between what an author wrote.
var serverOwnedMetadata = []string{
	"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
}

// serverAnnotations are annotations clients and controllers write;
// last-applied-configuration also carries a full copy of the object,
// Secret values included, so it never goes further.
var serverAnnotations = []string{
	"kubectl.kubernetes.io/last-applied-configuration",
	"deployment.kubernetes.io/revision",
}

// normalize returns a copy of obj without server-managed fields and
// status. Defaulted fields need no list: both sides of a live comparison
// come from the server.
func normalize(obj map[string]any) map[string]any {
	out := deepCopy(obj).(map[string]any)
	delete(out, "status")
	md, _ := out["metadata"].(map[string]any)
	if md == nil {
		return out
	}
	for _, k := range serverOwnedMetadata {
		delete(md, k)
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		for _, k := range serverAnnotations {
			delete(ann, k)
		}
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	return out
}

// nested reads a value by map keys; nil when any step is missing.
func nested(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// deepCopy copies a JSON-like value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// withNamespace sets (or, for cluster-scoped objects, removes)
// metadata.namespace on obj in place and returns it.
func withNamespace(obj map[string]any, ns string) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	if ns == "" {
		delete(md, "namespace")
	} else {
		md["namespace"] = ns
	}
	return obj
}

// overlay merges the rendered object onto a copy of the live one, close to
// what an apply does: maps merge; lists of named items (containers, ports,
// env) merge item by item by name, lists of the same length by position;
// scalars and other lists are replaced. It stands in for the server's dry
// run when the credentials may not run one, so the server's defaults inside
// list items (imagePullPolicy, protocol) do not show as changes. Fields the
// rendering drops are not removed.
func overlay(live, rendered map[string]any) map[string]any {
	for k, v := range rendered {
		live[k] = overlayValue(live[k], v)
	}
	return live
}

func overlayValue(live, rendered any) any {
	switch r := rendered.(type) {
	case map[string]any:
		if l, ok := live.(map[string]any); ok {
			return overlay(l, r)
		}
	case []any:
		l, ok := live.([]any)
		if !ok {
			break
		}
		if lb, rb := byName(l), byName(r); lb != nil && rb != nil {
			out := make([]any, len(r))
			for i, item := range r {
				name := item.(map[string]any)["name"]
				if li, ok := lb[name]; ok {
					out[i] = overlayValue(deepCopy(li), item)
				} else {
					out[i] = deepCopy(item)
				}
			}
			return out
		}
		if len(l) == len(r) {
			out := make([]any, len(r))
			for i := range r {
				out[i] = overlayValue(l[i], r[i])
			}
			return out
		}
	}
	return deepCopy(rendered)
}

// byName indexes a list of maps by their unique "name"; nil when the list
// is not such a list.
func byName(l []any) map[any]any {
	if len(l) == 0 {
		return nil
	}
	out := make(map[any]any, len(l))
	for _, it := range l {
		m, ok := it.(map[string]any)
		if !ok {
			return nil
		}
		n, ok := m["name"].(string)
		if !ok {
			return nil
		}
		if _, dup := out[n]; dup {
			return nil
		}
		out[n] = it
	}
	return out
}

// foldStringData moves a Secret's stringData into data, base64-encoded, as
// the API server does on write.
func foldStringData(obj map[string]any) {
	sd, ok := obj["stringData"].(map[string]any)
	if !ok {
		return
	}
	data, _ := obj["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range sd {
		s, _ := v.(string)
		data[k] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	obj["data"] = data
	delete(obj, "stringData")
}

// firstDifference returns the path of the first field (in sorted key
// order) that rendered sets to something other than live has; fields only
// live has (server defaults) do not count. Nil when there is none.
func firstDifference(rendered, live any, path []string) []string {
	switch r := rendered.(type) {
	case map[string]any:
		l, _ := live.(map[string]any)
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "status" && len(path) == 0 {
				continue
			}
			var lv any
			if l != nil {
				lv = l[k]
			}
			if p := firstDifference(r[k], lv, append(append([]string{}, path...), k)); p != nil {
				return p
			}
		}
		return nil
	case []any:
		l, _ := live.([]any)
		for i, item := range r {
			var lv any
			if i < len(l) {
				lv = l[i]
			}
			if p := firstDifference(item, lv, append(append([]string{}, path...), strconv.Itoa(i))); p != nil {
				return p
			}
		}
		if len(l) != len(r) {
			return path
		}
		return nil
	}
	if fmt.Sprint(rendered) != fmt.Sprint(live) {
		return path
	}
	return nil
}

// onlyRendered returns the parts of a dry-run result that the rendered
// object sets, with the server's values (normalised quantities, folded
// stringData): what a new object shows without the dozens of fields the
// server defaults (dnsPolicy, terminationMessagePath, strategy, ...), which
// an author never wrote. Lists of named items keep the named items the
// rendering has; other lists of the same length are taken item by item;
// any other list is the server's as it is.
func onlyRendered(dry, rendered any) any {
	switch d := dry.(type) {
	case map[string]any:
		r, ok := rendered.(map[string]any)
		if !ok {
			return dry
		}
		out := make(map[string]any, len(r))
		for k, rv := range r {
			if dv, ok := d[k]; ok {
				out[k] = onlyRendered(dv, rv)
			}
		}
		return out
	case []any:
		r, ok := rendered.([]any)
		if !ok {
			return dry
		}
		if db, rb := byName(d), byName(r); db != nil && rb != nil {
			out := make([]any, 0, len(d))
			for _, item := range d {
				name := item.(map[string]any)["name"]
				if ri, ok := rb[name]; ok {
					out = append(out, onlyRendered(item, ri))
				}
			}
			return out
		}
		if len(d) == len(r) {
			out := make([]any, len(d))
			for i := range d {
				out[i] = onlyRendered(d[i], r[i])
			}
			return out
		}
	}
	return dry
}
