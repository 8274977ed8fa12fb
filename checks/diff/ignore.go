// The ignore-pattern language of diff.ignore: which fields a diff leaves out.

package diff

import (
	"path"
	"strconv"
	"strings"
)

// DefaultIgnore are the field paths ignored unless Options.NoDefaultIgnore:
// build-time annotations kustomize and kubectl add, and fields the API
// server owns. None of them is something an author changes on purpose.
var DefaultIgnore = []string{
	`metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]`,
	`metadata.annotations["config.kubernetes.io/*"]`,
	`metadata.annotations["internal.config.kubernetes.io/*"]`,
	`metadata.annotations["alpha.config.kubernetes.io/*"]`,
	`metadata.annotations["deployment.kubernetes.io/revision"]`,
	`metadata.managedFields`,
	`metadata.resourceVersion`,
	`metadata.uid`,
	`metadata.generation`,
	`metadata.creationTimestamp`,
	`metadata.selfLink`,
	`status`,
}

func (o Options) patterns() []string {
	var ps []string
	if !o.NoDefaultIgnore {
		ps = append(ps, DefaultIgnore...)
	}
	return append(ps, o.Ignore...)
}

// prune drops every field an ignore pattern addresses, in place. Each
// pattern is walked through the object (rather than every field tested
// against every pattern), so the cost is the length of the patterns, not
// the size of the object.
func prune(obj map[string]any, patterns []string) {
	for _, p := range patterns {
		removePattern(obj, p, true)
	}
}

// removePattern removes what the rest of a pattern addresses below v and
// reports whether v itself is addressed (the caller deletes it).
func removePattern(v any, rest string, first bool) (any, bool) {
	if rest == "" {
		return nil, true
	}
	switch t := v.(type) {
	case map[string]any:
		r := rest
		switch {
		case strings.HasPrefix(r, `["`):
		case first:
		case strings.HasPrefix(r, "."):
			r = r[1:]
		default:
			return v, false
		}
		for k, c := range t {
			rem, ok := consumeKey(r, k)
			if !ok {
				continue
			}
			if nv, del := removePattern(c, rem, false); del {
				delete(t, k)
			} else {
				t[k] = nv
			}
		}
		return t, false
	case []any:
		if !strings.HasPrefix(rest, "[") {
			return v, false
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return v, false
		}
		sel, rem := rest[1:end], rest[end+1:]
		named := namedList(t, nil)
		out := t[:0]
		for i, it := range t {
			match := sel == "*" || sel == strconv.Itoa(i) || (named && sel == "name="+itemName(it))
			if match {
				nv, del := removePattern(it, rem, false)
				if del {
					continue
				}
				it = nv
			}
			out = append(out, it)
		}
		return out, false
	}
	return v, false
}

// consumeKey matches map key k at the start of a pattern: bare (k itself,
// dots and slashes included), quoted (["k"], which may glob with
// path.Match) or "*". It returns the rest of the pattern.
func consumeKey(r, k string) (string, bool) {
	if strings.HasPrefix(r, `["`) {
		end := strings.Index(r, `"]`)
		if end < 0 {
			return "", false
		}
		inner := r[2:end]
		if inner == k {
			return r[end+2:], true
		}
		if strings.ContainsAny(inner, "*?[") {
			if ok, _ := path.Match(inner, k); ok {
				return r[end+2:], true
			}
		}
		return "", false
	}
	boundary := func(rest string) bool { return rest == "" || rest[0] == '.' || rest[0] == '[' }
	if strings.HasPrefix(r, "*") && boundary(r[1:]) {
		return r[1:], true
	}
	if strings.HasPrefix(r, k) && boundary(r[len(k):]) {
		return r[len(k):], true
	}
	return "", false
}
