// Package schema is gate's schema stage: every rendered resource of an
// environment is validated, strictly and offline, against the Kubernetes
// schemas of that environment's Kubernetes version (embedded in the binary,
// generated from the k8s.io/kubernetes module by cmd/schemagen) and
// against the CustomResourceDefinitions the repo renders or names in
// gate.yaml. Validation follows kubeconform's semantics (its resource
// parsing, draft-04 schemas, strict mode); schemas are served from memory
// through santhosh-tekuri/jsonschema, never fetched. Deprecated and removed
// API versions, and metadata the API server would reject (names, label
// keys and values, annotations), are findings of their own.
package schema

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/yannh/kubeconform/pkg/resource"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
)

// CheckName is the Check of every finding this stage produces.
const CheckName = "schema"

// Rule ids.
const (
	RuleInvalid         = "schema/invalid"
	RuleInvalidMetadata = "schema/invalid-metadata"
	RuleMissingSchema   = "schema/missing-schema"
	RuleUnknownKind     = "schema/unknown-kind"
	RuleDeprecatedAPI   = "schema/deprecated-api"
	RuleRemovedAPI      = "schema/removed-api"
	RuleInvalidCRD      = "schema/invalid-crd"
	// RuleRejectedKind is a kind schemas.reject forbids (kubeconform's
	// -reject).
	RuleRejectedKind = "schema/rejected-kind"
)

// Help pages linked from findings.
const (
	helpDeprecation = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"
	helpAPI         = "https://kubernetes.io/docs/reference/kubernetes-api/"
	helpNames       = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"
	helpLabels      = "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set"
	helpCRD         = "https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema"
	helpGate        = "https://github.com/gate-ops/gate#schema-validation"
)

// maxErrorsPerResource bounds the findings one broken object produces.
const maxErrorsPerResource = 20

// Options configure a Stage.
type Options struct {
	// Config is gate.yaml's schemas section.
	Config config.Schemas
	// Source is the trusted tree schemas.paths are read from (the base
	// revision of a pull request, like gate.yaml itself).
	Source fs.FS
	// Bundles are the Kubernetes schemas; nil means the embedded ones.
	Bundles *Bundles
	// Parallelism bounds concurrent validations; 0 means GOMAXPROCS.
	Parallelism int
	// MaxCRDNodes bounds one CRD schema; 0 means 100,000 nodes.
	MaxCRDNodes int
}

// Stage validates rendered environments. It is safe for concurrent use and
// meant to live for a whole run (or a whole server): compiled schemas are
// cached per (Kubernetes version, kind) and per CRD schema content.
type Stage struct {
	bundles *Bundles
	strict  bool
	missing checks.Severity
	skip    map[string]bool
	// reject holds schemas.reject: kinds (or apiVersion/Kind) that are an
	// error wherever they appear.
	reject map[string]bool
	extra  []*crdEntry
	// jsonSchemas are kubeconform-style JSON schema files of schemas.paths.
	jsonSchemas map[string]*crdEntry
	parallel    int
	maxNodes    int
	// paths are schemas.paths (Inputs).
	paths   []string
	crds    sync.Map // schema hash -> *compiledCRD
	crdDefs sync.Map // sha256 of a rendered CRD -> *convertedCRD
	// crdCompiles counts CRD schema compilations (once per schema content).
	crdCompiles atomic.Int64
}

// convertedCRD caches the conversion of one rendered CRD: every
// environment of a run sees the same CRDs.
type convertedCRD struct {
	once sync.Once
	vs   []crdVersion
	err  error
}

type crdEntry struct {
	crdVersion
	origin checks.Origin
	// fromHead is set for CRDs rendered by the environment being checked.
	fromHead bool
	// jsonFile is set for a JSON schema file (not a CRD) of schemas.paths.
	jsonFile bool
}

type compiledCRD struct {
	once sync.Once
	s    *jsonschema.Schema
	err  error
}

// New builds the stage. CRDs under schemas.paths are read from opts.Source
// now; problems with them are returned as findings.
func New(opts Options) (*Stage, []checks.Finding, error) {
	b := opts.Bundles
	if b == nil {
		var err error
		if b, err = LoadBundles(nil); err != nil {
			return nil, nil, err
		}
	}
	s := &Stage{bundles: b, strict: true, missing: checks.SeverityWarning, skip: map[string]bool{}, reject: map[string]bool{}, parallel: opts.Parallelism, maxNodes: opts.MaxCRDNodes}
	s.paths = append(s.paths, opts.Config.Paths...)
	if s.parallel <= 0 {
		s.parallel = runtime.GOMAXPROCS(0)
	}
	if opts.Config.Strict != nil {
		s.strict = *opts.Config.Strict
	}
	if opts.Config.MissingSchema != "" {
		sev, err := checks.ParseSeverity(opts.Config.MissingSchema)
		if err != nil {
			return nil, nil, fmt.Errorf("schemas.missingSchema: %w", err)
		}
		s.missing = sev
	}
	for _, k := range opts.Config.Skip {
		s.skip[k] = true
	}
	for _, k := range opts.Config.Reject {
		s.reject[k] = true
	}
	var finds []checks.Finding
	if len(opts.Config.Paths) > 0 {
		if opts.Source == nil {
			return nil, nil, fmt.Errorf("schemas.paths is set but no source to read it from")
		}
		extra, js, fs := loadSchemaPaths(opts.Source, opts.Config.Paths, s.maxNodes)
		s.extra, s.jsonSchemas, finds = extra, js, fs
	}
	return s, finds, nil
}

// Name implements engine.Stage.
func (s *Stage) Name() string { return CheckName }

// ConcurrencySafe implements engine.ConcurrencySafe: compiled schemas are
// shared through a synchronised cache, so environments validate at once.
func (s *Stage) ConcurrencySafe() bool { return true }

// Check implements engine.Stage: it validates every resource of one
// environment, in parallel, and returns the findings in resource order.
func (s *Stage) Check(ctx context.Context, in *engine.Input) ([]checks.Finding, error) {
	if in == nil || in.Head == nil {
		return nil, fmt.Errorf("schema stage: no rendered environment")
	}
	v, err := s.bundles.Resolve(in.Env.KubernetesVersion)
	if err != nil {
		return nil, fmt.Errorf("environment %q: %w", in.Env.Name, err)
	}
	crds, finds := s.collectCRDs(in)
	rs := in.Head.Resources
	out := make([][]checks.Finding, len(rs))
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(s.parallel, len(rs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(rs) || ctx.Err() != nil {
					return
				}
				vr := &validation{s: s, v: v, crds: crds, in: in, res: rs[i]}
				vr.run()
				out[i] = vr.finds
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return finds, fmt.Errorf("schema validation of %q stopped: %w", in.Env.Name, err)
	}
	for _, f := range out {
		finds = append(finds, f...)
	}
	return groupMissing(finds), nil
}

// groupMissing folds the missing-schema findings of one kind into one: a
// repo with 700 custom resources of a few kinds gets a few lines, each on
// the first object's line, naming how many objects and which, instead of
// 700 lines that bury everything else. A kind with one object keeps its
// finding as it is.
func groupMissing(finds []checks.Finding) []checks.Finding {
	type group struct {
		first int
		names []string
	}
	groups := map[string]*group{}
	for i, f := range finds {
		if f.RuleID != RuleMissingSchema || f.Resource == nil {
			continue
		}
		key := f.Resource.APIVersion() + "/" + f.Resource.Kind
		g := groups[key]
		if g == nil {
			g = &group{first: i}
			groups[key] = g
		}
		g.names = append(g.names, f.Resource.String())
	}
	out := finds[:0:0]
	for i, f := range finds {
		if f.RuleID != RuleMissingSchema || f.Resource == nil {
			out = append(out, f)
			continue
		}
		g := groups[f.Resource.APIVersion()+"/"+f.Resource.Kind]
		if len(g.names) == 1 {
			out = append(out, f)
			continue
		}
		if g.first != i {
			continue
		}
		id := *f.Resource
		id.Namespace, id.Name = "", "*"
		shown := g.names
		more := ""
		if len(shown) > 5 {
			more = fmt.Sprintf(" and %d more", len(shown)-5)
			shown = shown[:5]
		}
		f.Resource = &id
		f.Message = fmt.Sprintf("%d objects of this kind (%s%s): %s", len(g.names), strings.Join(shown, ", "), more, f.Message)
		f.Details = map[string]any{"objects": len(g.names)}
		out = append(out, f)
	}
	return out
}

// collectCRDs gathers the CRDs every environment of the run renders (a CRD
// usually ships in one env and is used in all) and those of schemas.paths.
// The environment's own CRDs win, then other envs', then schemas.paths.
func (s *Stage) collectCRDs(in *engine.Input) (map[string]*crdEntry, []checks.Finding) {
	out := map[string]*crdEntry{}
	var finds []checks.Finding
	add := func(e *crdEntry) {
		key := e.APIVersion + "/" + e.Kind
		if _, ok := out[key]; !ok {
			out[key] = e
		}
	}
	scan := func(rs []*checks.Resource, head bool) {
		for _, r := range rs {
			if !isCRD(r.ID.APIVersion(), r.ID.Kind) {
				continue
			}
			vs, err := s.convertCRD(r)
			if err != nil {
				if head {
					finds = append(finds, checks.Finding{
						Check: CheckName, RuleID: RuleInvalidCRD, Severity: checks.SeverityError, Env: in.Env.Name,
						Resource: idPtr(r.ID), Message: err.Error(), Path: "spec",
						Origin: in.Head.Locate(r, []string{"spec"}), HelpURL: helpCRD,
					})
				}
				continue
			}
			for _, cv := range vs {
				add(&crdEntry{crdVersion: cv, origin: r.Origin, fromHead: head})
			}
		}
	}
	scan(in.Head.Resources, true)
	for _, other := range in.All {
		if other != nil && other != in.Head {
			scan(other.Resources, false)
		}
	}
	for _, e := range s.extra {
		add(e)
	}
	return out, finds
}

// convertCRD converts a rendered CRD once per content.
func (s *Stage) convertCRD(r *checks.Resource) ([]crdVersion, error) {
	if len(r.YAML) == 0 {
		return crdVersions(r.Object, s.maxNodes)
	}
	sum := sha256.Sum256(r.YAML)
	x, _ := s.crdDefs.LoadOrStore(sum, &convertedCRD{})
	c := x.(*convertedCRD)
	c.once.Do(func() { c.vs, c.err = crdVersions(r.Object, s.maxNodes) })
	return c.vs, c.err
}

// compileCRD compiles a converted CRD schema once per content hash.
func (s *Stage) compileCRD(e *crdEntry) (*jsonschema.Schema, error) {
	x, _ := s.crds.LoadOrStore(e.Hash, &compiledCRD{})
	c := x.(*compiledCRD)
	c.once.Do(func() {
		s.crdCompiles.Add(1)
		comp := newCompiler()
		url := "gate:///crd/" + e.Hash + ".json"
		if err := comp.AddResource(url, e.Schema); err != nil {
			c.err = err
			return
		}
		c.s, c.err = comp.Compile(url)
	})
	return c.s, c.err
}

// validation is the work on one resource.
type validation struct {
	s     *Stage
	v     *k8sVersion
	crds  map[string]*crdEntry
	in    *engine.Input
	res   *checks.Resource
	finds []checks.Finding
}

func (vr *validation) add(rule string, sev checks.Severity, p []string, msg, help string) {
	f := checks.Finding{
		Check: CheckName, RuleID: rule, Severity: sev, Env: vr.in.Env.Name,
		Resource: idPtr(vr.res.ID), Message: msg, Path: dotted(p),
		Origin: vr.in.Head.Locate(vr.res, p), HelpURL: help,
	}
	if f.Origin.IsZero() {
		f.Origin = vr.res.Origin
	}
	vr.finds = append(vr.finds, f)
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

var _ engine.Stage = (*Stage)(nil)

// RenderOnly implements engine.RenderOnly: validation depends on the
// rendering and the trusted schemas only, so the base is validated the same
// way to tell new findings from existing ones.
func (s *Stage) RenderOnly() bool { return true }
