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
	"strings"
	"sync"
	"sync/atomic"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"

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
	// lifecycles memoizes apiLifecycle: lifecycleKey -> lifecycleAnswer.
	lifecycles sync.Map
	lifecycleN atomic.Int64
	// crdCompiles counts CRD schema compilations (once per schema content).
	crdCompiles atomic.Int64
	// id digests the trusted configuration, for verdict keys (reuse.go).
	id []byte
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
	s.id = s.identity(opts.Bundles != nil)
	return s, finds, nil
}

// Name implements engine.Stage.
func (s *Stage) Name() string { return CheckName }

// ConcurrencySafe implements engine.ConcurrencySafe: compiled schemas are
// shared through a synchronised cache, so environments validate at once.
func (s *Stage) ConcurrencySafe() bool { return true }

// Check implements engine.Stage: it validates every resource of one
// environment, in parallel, and returns the findings in resource order.
// A resource whose verdict the run's store holds under the same key
// (in.Verdicts) is not validated again.
func (s *Stage) Check(ctx context.Context, in *engine.Input) ([]checks.Finding, error) {
	if in == nil || in.Head == nil {
		return nil, fmt.Errorf("schema stage: no rendered environment")
	}
	v, err := s.bundles.version(in.Env.KubernetesVersion)
	if err != nil {
		return nil, fmt.Errorf("environment %q: %w", in.Env.Name, err)
	}
	crds, finds := s.collectCRDs(in)
	rs := in.Head.Resources
	raws := make([][]rawFinding, len(rs))
	todo, keys := s.reuse(in, v, crds, raws)
	if len(todo) > 0 {
		// Only a resource to validate needs the bundle read.
		if err := v.load(); err != nil {
			return nil, fmt.Errorf("environment %q: %w", in.Env.Name, err)
		}
	}
	v.prepare(s.kindsOf(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(s.parallel, len(todo))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(todo) || ctx.Err() != nil {
					return
				}
				vr := &validation{s: s, v: v, crds: crds, res: todo[j].res}
				vr.run()
				raws[todo[j].i] = vr.raw
				if todo[j].keyed {
					if b, ok := encodeVerdict(vr.raw); ok {
						in.Verdicts.Put(todo[j].key, b)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return finds, fmt.Errorf("schema validation of %q stopped: %w", in.Env.Name, err)
	}
	in.Verdicts.Persist(keys)
	for i, raw := range raws {
		finds = append(finds, findingsOf(in, rs[i], raw)...)
	}
	return groupMissing(finds), nil
}

// pending is a resource to validate, with the key its verdict is stored
// under (keyed false: not reusable).
type pending struct {
	i     int
	res   *checks.Resource
	key   [32]byte
	keyed bool
}

// reuse fills raws with the verdicts the run's store holds (or its disk
// pack of this check) and returns the resources left to validate, and the
// keys of the check's verdicts in resource order.
func (s *Stage) reuse(in *engine.Input, v *k8sVersion, crds map[string]*crdEntry, raws [][]rawFinding) ([]pending, [][32]byte) {
	rs := in.Head.Resources
	all := make([]pending, 0, len(rs))
	var keys [][32]byte
	crdSum := []byte(nil)
	if in.Verdicts != nil {
		crdSum = crdDigest(crds)
	}
	for i, r := range rs {
		p := pending{i: i, res: r}
		if in.Verdicts != nil {
			if p.key, p.keyed = s.verdictKey(in.Verdicts, v, crdSum, r); p.keyed {
				keys = append(keys, p.key)
			}
		}
		all = append(all, p)
	}
	in.Verdicts.Prefetch(keys)
	todo := all[:0]
	for _, p := range all {
		if p.keyed {
			if b, ok := in.Verdicts.Get(p.key); ok {
				if raw, ok := decodeVerdict(b); ok {
					raws[p.i] = raw
					continue
				}
			}
		}
		todo = append(todo, p)
	}
	return todo, keys
}

// kindsOf lists the distinct "apiVersion/Kind" keys of rs that
// validation compiles a built-in schema for (not skipped or rejected).
func (s *Stage) kindsOf(todo []pending) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range todo {
		r := p.res
		av, _ := r.Object["apiVersion"].(string)
		kind, _ := r.Object["kind"].(string)
		key := av + "/" + kind
		if seen[key] || s.skip[kind] || s.skip[key] || s.reject[kind] || s.reject[key] {
			continue
		}
		seen[key] = true
		out = append(out, key)
	}
	return out
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
			// Kind first: every environment scans every other's objects,
			// and APIVersion builds a string.
			if r.ID.Kind != "CustomResourceDefinition" || !isCRD(r.ID.APIVersion(), r.ID.Kind) {
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

var _ engine.Stage = (*Stage)(nil)

// RenderOnly implements engine.RenderOnly: validation depends on the
// rendering and the trusted schemas only, so the base is validated the same
// way to tell new findings from existing ones.
func (s *Stage) RenderOnly() bool { return true }
