package live

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

// overlay merges the rendered object onto a copy of the live one: maps
// merge, everything else (lists included) is replaced. It approximates an
// apply when the server may not run a dry run; fields the rendering drops
// are not removed.
func overlay(live, rendered map[string]any) map[string]any {
	for k, v := range rendered {
		if rm, ok := v.(map[string]any); ok {
			if lm, ok := live[k].(map[string]any); ok {
				live[k] = overlay(lm, rm)
				continue
			}
		}
		live[k] = deepCopy(v)
	}
	return live
}
