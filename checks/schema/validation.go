package schema

import (
	"fmt"
	"strconv"
	"strings"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/yannh/kubeconform/pkg/resource"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
)

// validation is the work on one resource. Its verdict is raw: what is
// wrong where, as field paths; findings (the environment, the resource and
// the source line of each path) are made from it by findingsOf, for the
// side being checked.
type validation struct {
	s    *Stage
	v    *k8sVersion
	crds map[string]*crdEntry
	res  *checks.Resource
	raw  []rawFinding
}

// rawFinding is one problem of a resource before it is located: the part
// of a finding that depends only on the resource's content and the
// stage's trusted inputs.
type rawFinding struct {
	Rule string          `json:"r"`
	Sev  checks.Severity `json:"s"`
	Path []string        `json:"p,omitempty"`
	Msg  string          `json:"m"`
	Help string          `json:"h,omitempty"`
}

func (vr *validation) add(rule string, sev checks.Severity, p []string, msg, help string) {
	vr.raw = append(vr.raw, rawFinding{Rule: rule, Sev: sev, Path: p, Msg: msg, Help: help})
}

// findingsOf locates the raw verdict of res in one environment's rendering.
func findingsOf(in *engine.Input, res *checks.Resource, raw []rawFinding) []checks.Finding {
	if len(raw) == 0 {
		return nil
	}
	out := make([]checks.Finding, 0, len(raw))
	for _, r := range raw {
		f := checks.Finding{
			Check: CheckName, RuleID: r.Rule, Severity: r.Sev, Env: in.Env.Name,
			Resource: idPtr(res.ID), Message: r.Msg, Path: dotted(r.Path),
			Origin: in.Head.Locate(res, r.Path), HelpURL: r.Help,
		}
		if f.Origin.IsZero() {
			f.Origin = res.Origin
		}
		out = append(out, f)
	}
	return out
}

func (vr *validation) run() {
	defer func() {
		if p := recover(); p != nil {
			vr.add(RuleInvalid, checks.SeverityError, nil, fmt.Sprintf("schema validation crashed on this object: %v (please report this)", p), helpGate)
		}
	}()
	vr.object(vr.res.Object, nil)
}

// object validates one object; prefix is its path inside the rendered
// resource (items.3 for an item of a List).
func (vr *validation) object(obj map[string]any, prefix []string) {
	kres := resource.Resource{Path: vr.res.Origin.File, Bytes: vr.res.YAML}
	sig, err := kres.SignatureFromMap(obj)
	if err != nil {
		// kubeconform's words: "missing 'apiVersion' key".
		vr.add(RuleInvalid, checks.SeverityError, prefix, fmt.Sprintf("not a Kubernetes object: %v", err), helpAPI)
		return
	}
	apiVersion, kind := sig.Version, sig.Kind
	if strings.EqualFold(kind, "List") && len(prefix) == 0 {
		vr.list(kres)
		return
	}
	// kubeconform's order: -skip first, then -reject (a kind in both is
	// skipped; config validation refuses that combination anyway).
	if vr.s.skip[kind] || vr.s.skip[apiVersion+"/"+kind] {
		return
	}
	group, _ := splitAPIVersion(apiVersion)
	at := func(p ...string) []string { return append(append([]string(nil), prefix...), p...) }
	if vr.s.reject[kind] || vr.s.reject[apiVersion+"/"+kind] {
		vr.add(RuleRejectedKind, checks.SeverityError, at("kind"), fmt.Sprintf("%s %s is not allowed in this repository (schemas.reject in gate.yaml)", apiVersion, kind), helpGate)
		return
	}

	lc, known := vr.s.apiLifecycle(vr.v, apiVersion, kind)
	switch {
	case known && lc.notYet != "":
		vr.add(RuleUnknownKind, checks.SeverityError, at("apiVersion"), lc.message(apiVersion, kind, vr.v.minor), helpDeprecation)
	case known && lc.removed:
		vr.add(RuleRemovedAPI, checks.SeverityError, at("apiVersion"), lc.message(apiVersion, kind, vr.v.minor), helpDeprecation)
	case known && lc.deprecated:
		vr.add(RuleDeprecatedAPI, checks.SeverityWarning, at("apiVersion"), lc.message(apiVersion, kind, vr.v.minor), helpDeprecation)
	}

	sch, err := vr.v.schemaFor(apiVersion, kind)
	if err != nil {
		vr.add(RuleInvalid, checks.SeverityError, at(), err.Error(), helpGate)
		return
	}
	if sch == nil {
		var ok bool
		if sch, ok = vr.crdSchema(apiVersion, kind, group, known && (lc.removed || lc.notYet != ""), at); !ok {
			return
		}
	}
	inst := pruneNulls(obj)
	if err := sch.Validate(inst); err != nil {
		vr.schemaErrors(err, prefix)
	}
	for _, mp := range checkMetadata(group, kind, obj) {
		help := helpNames
		if strings.Contains(mp.msg, "labels") || strings.Contains(mp.msg, "annotations") {
			help = helpLabels
		}
		msg := mp.msg
		if len(prefix) > 0 {
			msg = dotted(prefix) + "." + msg
		}
		vr.add(RuleInvalidMetadata, checks.SeverityError, at(mp.path...), msg, help)
	}
}

// crdSchema finds the schema of a kind Kubernetes does not serve itself.
// ok=false means the resource cannot be validated and a finding says why.
func (vr *validation) crdSchema(apiVersion, kind, group string, reported bool, at func(...string) []string) (*jsonschema.Schema, bool) {
	key := apiVersion + "/" + kind
	e := vr.crds[key]
	if e == nil && len(vr.s.jsonSchemas) > 0 {
		v := versionOf(apiVersion)
		if e = vr.s.jsonSchemas[jsonSchemaKey(group, v, kind)]; e == nil {
			e = vr.s.jsonSchemas[jsonSchemaKey("", v, kind)]
		}
	}
	if e == nil {
		switch {
		case reported:
			// Removed or not yet served: already a finding of its own.
		case vr.s.builtinGroup(group):
			msg := fmt.Sprintf("Kubernetes %s has no kind %s in %s", vr.v.minor, kind, apiVersion)
			if alt := vr.similarKind(apiVersion, kind); alt != "" {
				msg += fmt.Sprintf("; did you mean %s?", alt)
			}
			vr.add(RuleUnknownKind, checks.SeverityError, at("kind"), msg, helpAPI)
		case vr.s.missing != checks.SeverityNone:
			msg := fmt.Sprintf("no schema for %s %s: it was not validated. Render its CustomResourceDefinition in an environment or put it (or a JSON schema named %s_%s.json) in a directory listed in gate.yaml schemas.paths", apiVersion, kind, strings.ToLower(kind), versionOf(apiVersion))
			if others := vr.otherCRDVersions(group, kind); others != "" {
				msg += fmt.Sprintf(" (the known CRD serves %s)", others)
			}
			vr.add(RuleMissingSchema, vr.s.missing, at("apiVersion"), msg, helpGate)
		}
		return nil, false
	}
	if !e.Served {
		vr.add(RuleRemovedAPI, checks.SeverityError, at("apiVersion"), fmt.Sprintf("%s %s is not served: CustomResourceDefinition %s sets served: false for %s%s", apiVersion, kind, e.CRD, versionOf(apiVersion), vr.crdReplacement(e)), helpCRD)
		return nil, false
	}
	if e.Deprecated {
		msg := fmt.Sprintf("%s %s is deprecated by CustomResourceDefinition %s", apiVersion, kind, e.CRD)
		if e.Warning != "" {
			msg += ": " + e.Warning
		}
		if r := vr.crdReplacement(e); !strings.Contains(e.Warning, strings.TrimPrefix(r, "; use apiVersion: ")) {
			msg += r
		}
		vr.add(RuleDeprecatedAPI, checks.SeverityWarning, at("apiVersion"), msg, helpCRD)
	}
	if e.Schema == nil {
		if vr.s.missing != checks.SeverityNone {
			vr.add(RuleMissingSchema, vr.s.missing, at("apiVersion"), fmt.Sprintf("CustomResourceDefinition %s declares no schema for %s: %s %s was not validated", e.CRD, versionOf(apiVersion), apiVersion, kind), helpCRD)
		}
		return nil, false
	}
	sch, err := vr.s.compileCRD(e)
	if err != nil && e.jsonFile {
		vr.add(RuleInvalidCRD, checks.SeverityError, at("apiVersion"), fmt.Sprintf("JSON schema %s does not compile, so %s was not validated: %v", e.CRD, kind, oneLine(err)), helpGate)
		return nil, false
	}
	if err != nil {
		vr.add(RuleInvalidCRD, checks.SeverityError, at("apiVersion"), fmt.Sprintf("schema of CustomResourceDefinition %s (%s) does not compile, so %s was not validated: %v", e.CRD, versionOf(apiVersion), kind, oneLine(err)), helpCRD)
		return nil, false
	}
	return sch, true
}

// crdReplacement suggests the served, non-deprecated storage version.
func (vr *validation) crdReplacement(e *crdEntry) string {
	best := ""
	for _, o := range vr.crds {
		if o.CRD != e.CRD || o.APIVersion == e.APIVersion || !o.Served || o.Deprecated {
			continue
		}
		if best == "" || o.Storage {
			best = o.APIVersion
		}
	}
	if best == "" {
		return ""
	}
	return "; use apiVersion: " + best
}

func (vr *validation) otherCRDVersions(group, kind string) string {
	var vs []string
	for _, e := range vr.crds {
		if e.Kind == kind && groupOf(e.APIVersion+"/"+e.Kind) == group && e.Served {
			vs = append(vs, e.APIVersion)
		}
	}
	sortStrings(vs)
	return strings.Join(vs, ", ")
}

func (vr *validation) similarKind(apiVersion, kind string) string {
	for key := range vr.v.kinds {
		if strings.HasPrefix(key, apiVersion+"/") {
			k := strings.TrimPrefix(key, apiVersion+"/")
			if !strings.Contains(k, "/") && strings.EqualFold(k, kind) {
				return k
			}
		}
	}
	return ""
}

// list validates the items of a kind: List object one by one, the way
// kubeconform does (its resource package splits the list).
func (vr *validation) list(kres resource.Resource) {
	items := kres.Resources()
	for i, it := range items {
		var m map[string]any
		if err := sigsyaml.Unmarshal(it.Bytes, &m); err != nil || m == nil {
			vr.add(RuleInvalid, checks.SeverityError, []string{"items", strconv.Itoa(i)}, "list item is not an object", helpAPI)
			continue
		}
		vr.object(m, []string{"items", strconv.Itoa(i)})
	}
}

func idPtr(id checks.ResourceID) *checks.ResourceID { return &id }

// dotted renders a field path the way kubectl does: spec.containers[0].image.
func dotted(p []string) string {
	var b strings.Builder
	for _, seg := range p {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if strings.ContainsAny(seg, ". []") || seg == "" {
			b.WriteString("[" + strconv.Quote(seg) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// pruneNulls drops null-valued map entries the way the API server's
// decoder treats them (absent), copying only the maps and lists that
// change, so the shared rendered object is never modified. Null list items
// stay: they are errors.
func pruneNulls(v any) any {
	out, _ := prune(v)
	return out
}

func prune(v any) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		var out map[string]any
		for k, x := range t {
			if x == nil {
				if out == nil {
					out = copyMap(t)
				}
				delete(out, k)
				continue
			}
			if nx, changed := prune(x); changed {
				if out == nil {
					out = copyMap(t)
				}
				out[k] = nx
			}
		}
		if out == nil {
			return t, false
		}
		return out, true
	case []any:
		var out []any
		for i, x := range t {
			if nx, changed := prune(x); changed {
				if out == nil {
					out = append([]any(nil), t...)
				}
				out[i] = nx
			}
		}
		if out == nil {
			return t, false
		}
		return out, true
	}
	return v, false
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
