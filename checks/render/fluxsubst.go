package render

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/strvals"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
)

// fluxSubstitute runs Flux's post-build variable substitution on text:
// ${var}, ${var:=default}, ${var:-default}, ${var=default} and
// ${var-default}; $${var} is an escape that leaves ${var}; a bare $var is
// never substituted (Flux documents this so shell scripts in ConfigMaps
// survive). A variable with no value and no default becomes the empty
// string, as kustomize-controller does without strict substitution, and
// is returned in missing so gate can say so.
func fluxSubstitute(text string, vars map[string]string) (out string, missing []string, err error) {
	var b strings.Builder
	for i := 0; i < len(text); {
		c := text[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if strings.HasPrefix(text[i:], "$${") {
			end := strings.IndexByte(text[i:], '}')
			if end < 0 {
				b.WriteString(text[i:])
				break
			}
			b.WriteString(text[i+1 : i+end+1])
			i += end + 1
			continue
		}
		if !strings.HasPrefix(text[i:], "${") {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			return "", missing, fmt.Errorf("unterminated variable %q", clip(text[i:], 40))
		}
		expr := text[i+2 : i+end]
		n := 0
		for n < len(expr) && (expr[n] == '_' || isAlpha(expr[n]) || n > 0 && isDigit(expr[n])) {
			n++
		}
		name, op := expr[:n], expr[n:]
		if name == "" {
			return "", missing, fmt.Errorf("invalid variable %q", "${"+expr+"}")
		}
		val, set := vars[name]
		switch {
		case op == "":
			if !set {
				missing = append(missing, name)
			}
		case strings.HasPrefix(op, ":=") || strings.HasPrefix(op, ":-"):
			if val == "" {
				val = op[2:]
			}
		case strings.HasPrefix(op, "=") || strings.HasPrefix(op, "-"):
			if !set {
				val = op[1:]
			}
		default:
			return "", missing, fmt.Errorf("variable %q uses an expansion gate does not support (use ${var}, ${var:=default} or ${var:-default})", "${"+expr+"}")
		}
		b.WriteString(val)
		i += end + 1
	}
	return b.String(), missing, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// substitute runs postBuild substitution on a Kustomization's objects.
func (w *fluxWalk) substitute(ks *fluxKustomization, decl *checks.Resource, ns string, objs []*checks.Resource) []*checks.Resource {
	vars := map[string]string{}
	pb := ks.Spec.PostBuild
	for i, from := range pb.SubstituteFrom {
		o := w.lookup("", from.Kind, ns, from.Name)
		if o == nil || o.ID.Group != "" {
			if !from.Optional {
				w.finding(checks.SeverityError, "render/flux-substitute", w.at(decl, "spec", "postBuild", "substituteFrom", fmt.Sprint(i)),
					"Kustomization %s/%s: %s %s/%s for postBuild.substituteFrom is not in what this cluster renders (Flux fails the Kustomization; mark it optional: true if it may be absent)", ns, ks.Metadata.Name, from.Kind, ns, from.Name)
			}
			continue
		}
		for k, v := range dataOf(o) {
			vars[k] = v
		}
	}
	for k, v := range pb.Substitute {
		vars[k] = v
	}
	out := objs[:0]
	for _, o := range objs {
		md, _ := o.Object["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		lbl, _ := md["labels"].(map[string]any)
		if ann[fluxSubstituteAnnotation] == "disabled" || lbl[fluxSubstituteAnnotation] == "disabled" || !hasVarRef(o.Object) {
			// (Without "${" in any key or string the text round trip
			// below changes nothing and finds nothing.)
			out = append(out, o)
			continue
		}
		y, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			out = append(out, o)
			continue
		}
		text, missing, err := fluxSubstitute(string(y), vars)
		if err != nil {
			w.finding(checks.SeverityError, "render/flux-substitute", w.varOrigin(o, ""), "%s %s: %v", o.ID.Kind, o.ID.Name, err)
			out = append(out, o)
			continue
		}
		for _, name := range uniq(missing) {
			w.finding(checks.SeverityError, "render/flux-unset-variable", w.varOrigin(o, name),
				"${%s} has no value in Kustomization %s/%s (postBuild.substitute or substituteFrom) and no default: Flux substitutes an empty string", name, ns, ks.Metadata.Name)
		}
		if text == string(y) {
			out = append(out, o)
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(text), &obj); err != nil {
			w.finding(checks.SeverityError, "render/flux-substitute", w.varOrigin(o, ""), "%s %s is not valid YAML after substitution: %v", o.ID.Kind, o.ID.Name, err)
			out = append(out, o)
			continue
		}
		n, err := newResource(normalize(obj).(map[string]any))
		if err != nil {
			out = append(out, o)
			continue
		}
		n.Origin, n.Patches = o.Origin, o.Patches
		w.res.loc[n] = w.res.loc[o]
		delete(w.res.loc, o)
		out = append(out, n)
	}
	return out
}

// hasVarRef reports whether a key or string of v contains "${": only
// then can postBuild substitution change an object's YAML (a YAML
// encoding never joins a "$" and a "{" the value keeps apart).
func hasVarRef(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if strings.Contains(k, "${") || hasVarRef(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasVarRef(x) {
				return true
			}
		}
	case string:
		return strings.Contains(t, "${")
	}
	return false
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// varOrigin is the line of the first field of o that uses ${name} (any
// variable when name is "").
func (w *fluxWalk) varOrigin(o *checks.Resource, name string) checks.Origin {
	want := "${" + name
	var found []string
	var visit func(v any, p []string) bool
	visit = func(v any, p []string) bool {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if visit(t[k], append(p, k)) {
					return true
				}
			}
		case []any:
			for i, x := range t {
				if visit(x, append(p, fmt.Sprint(i))) {
					return true
				}
			}
		case string:
			if strings.Contains(t, want) {
				found = append([]string(nil), p...)
				return true
			}
		}
		return false
	}
	if visit(o.Object, nil) {
		return w.res.Locate(o, found)
	}
	return o.Origin
}

// dataOf reads a ConfigMap's or Secret's string data.
func dataOf(o *checks.Resource) map[string]string {
	out := map[string]string{}
	if d, ok := o.Object["data"].(map[string]any); ok {
		for k, v := range d {
			s := fmt.Sprint(v)
			if o.ID.Kind == "Secret" {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					s = string(b)
				}
			}
			out[k] = s
		}
	}
	if d, ok := o.Object["stringData"].(map[string]any); ok && o.ID.Kind == "Secret" {
		for k, v := range d {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// setTargetPath sets a value at a Helm --set style path, as helm-controller
// does for valuesFrom entries with targetPath.
func setTargetPath(values map[string]any, target, value string) error {
	return strvals.ParseIntoString(target+"="+value, values)
}
