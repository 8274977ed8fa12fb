package schema

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
)

//go:generate go run ../../cmd/schemagen -out bundles v1.34.4 v1.35.4 v1.36.3 v1.37.2

// bundleFormat must match cmd/schemagen.BundleFormat.
const bundleFormat = 1

//go:embed bundles/*.json.gz
var embedded embed.FS

// bundleFile is the layout cmd/schemagen writes. Definitions stay raw:
// a run decodes only those the kinds it validates reach.
type bundleFile struct {
	Format            int                        `json:"gateBundleFormat"`
	KubernetesVersion string                     `json:"kubernetesVersion"`
	Schema            string                     `json:"$schema"`
	Kinds             map[string]string          `json:"kinds"`
	Definitions       map[string]json.RawMessage `json:"definitions"`
}

// k8sVersion is one embedded Kubernetes minor version: its kinds, and
// each kind's schema compiled once, on first use, from the definitions it
// reaches.
type k8sVersion struct {
	minor string // "1.35"
	file  string
	fsys  fs.FS

	once   sync.Once
	err    error
	full   string            // v1.35.4
	kinds  map[string]string // apiVersion/Kind -> definition
	groups map[string]bool
	draft  string // the bundle's $schema
	// defs maps each definition to its undecoded schema; read from rest
	// (the document after its "definitions" key) on first compile: the
	// versions a run only asks which kinds they serve never read them.
	defsOnce sync.Once
	defsErr  error
	defs     map[string]json.RawMessage
	rest     *json.Decoder

	mu       sync.Mutex // guards compiles of one kind at a time
	compiled sync.Map   // apiVersion/Kind -> *jsonschema.Schema
	// compiles counts schema compilations, to prove each kind compiles once.
	compiles atomic.Int64
}

// url is where the bundle document lives for the compiler; the loader
// serves it from the embedded files, nothing is ever fetched.
func (v *k8sVersion) url() string { return "gate:///kubernetes/" + v.minor + ".json" }

func (v *k8sVersion) load() error {
	v.once.Do(func() {
		b, err := fs.ReadFile(v.fsys, v.file)
		if err != nil {
			v.err = fmt.Errorf("read schema bundle %s: %w", v.file, err)
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			v.err = fmt.Errorf("schema bundle %s: %w", v.file, err)
			return
		}
		raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
		if err != nil {
			v.err = fmt.Errorf("schema bundle %s: %w", v.file, err)
			return
		}
		meta, rest, err := decodeHead(raw)
		if err != nil {
			v.err = fmt.Errorf("schema bundle %s: %w", v.file, err)
			return
		}
		if meta.Format != bundleFormat {
			v.err = fmt.Errorf("schema bundle %s has format %d, this gate reads %d (run go generate ./checks/schema)", v.file, meta.Format, bundleFormat)
			return
		}
		if len(meta.Kinds) == 0 {
			v.err = fmt.Errorf("schema bundle %s declares no kinds", v.file)
			return
		}
		v.rest = rest
		v.full, v.kinds, v.draft, v.defs = meta.KubernetesVersion, meta.Kinds, meta.Schema, meta.Definitions
		v.groups = map[string]bool{}
		for k := range meta.Kinds {
			v.groups[groupOf(k)] = true
		}
	})
	return v.err
}

// decodeHead decodes the bundle's keys up to "definitions" and returns a
// decoder standing at that key's value (nil when the document has none or
// had them before its kinds, then decoded into meta).
func decodeHead(raw []byte) (bundleFile, *json.Decoder, error) {
	var meta bundleFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return meta, nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return meta, nil, err
		}
		key, _ := t.(string)
		var dst any
		switch key {
		case "gateBundleFormat":
			dst = &meta.Format
		case "kubernetesVersion":
			dst = &meta.KubernetesVersion
		case "$schema":
			dst = &meta.Schema
		case "kinds":
			dst = &meta.Kinds
		case "definitions":
			if meta.Kinds != nil && meta.Format != 0 {
				return meta, dec, nil
			}
			dst = &meta.Definitions
		default:
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			return meta, nil, fmt.Errorf("key %q: %w", key, err)
		}
	}
	return meta, nil, nil
}

// groupOf returns the API group of an "apiVersion/Kind" key.
func groupOf(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) == 3 {
		return parts[0]
	}
	return ""
}

// schemaFor returns the compiled schema of a built-in kind, or nil when the
// version does not serve it. Each (version, kind) compiles once.
func (v *k8sVersion) schemaFor(apiVersion, kind string) (*jsonschema.Schema, error) {
	key := apiVersion + "/" + kind
	if s, ok := v.compiled.Load(key); ok {
		return s.(*jsonschema.Schema), nil
	}
	def, ok := v.kinds[key]
	if !ok {
		return nil, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.compiled.Load(key); ok {
		return s.(*jsonschema.Schema), nil
	}
	v.compiles.Add(1)
	doc, err := v.docFor(def)
	if err != nil {
		return nil, fmt.Errorf("schema of %s for Kubernetes %s: %w", key, v.minor, err)
	}
	c := newCompiler()
	if err := c.AddResource(v.url(), doc); err != nil {
		return nil, fmt.Errorf("schema of %s for Kubernetes %s: %w", key, v.minor, err)
	}
	s, err := c.Compile(v.url() + "#/definitions/" + escapePointer(def))
	if err != nil {
		return nil, fmt.Errorf("compile schema of %s for Kubernetes %s: %w", key, v.minor, err)
	}
	v.compiled.Store(key, s)
	return s, nil
}

// refRe finds the references of a definition's raw schema. A quote inside
// a JSON string is escaped, so the pattern only matches a real "$ref" key.
var refRe = regexp.MustCompile(`"\$ref"\s*:\s*("(?:[^"\\]|\\.)*")`)

// docFor is the bundle document cut down to roots and the definitions they
// reaches: the same URL and pointers as the whole document, so a schema
// compiled from it validates and reports exactly as one compiled from
// the whole, and a run decodes a few dozen definitions, not 700. A
// reference outside #/definitions/ keeps the whole document.
func (v *k8sVersion) docFor(roots ...string) (any, error) {
	v.defsOnce.Do(func() {
		if v.rest != nil {
			v.defsErr = v.rest.Decode(&v.defs)
			v.rest = nil
		}
	})
	if v.defsErr != nil {
		return nil, fmt.Errorf("read definitions of %s: %w", v.file, v.defsErr)
	}
	need := map[string]bool{}
	for _, d := range roots {
		need[d] = true
	}
	queue := append([]string(nil), roots...)
	whole := false
	for len(queue) > 0 && !whole {
		d := queue[0]
		queue = queue[1:]
		raw, ok := v.defs[d]
		if !ok {
			continue // the compiler reports the missing definition
		}
		for _, m := range refRe.FindAllSubmatch(raw, -1) {
			var ref string
			if err := json.Unmarshal(m[1], &ref); err != nil {
				return nil, fmt.Errorf("definition %s: %w", d, err)
			}
			name, ok := strings.CutPrefix(ref, "#/definitions/")
			if !ok || strings.Contains(name, "/") {
				whole = true
				break
			}
			name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
			if !need[name] {
				need[name] = true
				queue = append(queue, name)
			}
		}
	}
	if whole {
		need = nil
	}
	defs := map[string]any{}
	for name, raw := range v.defs {
		if need != nil && !need[name] {
			continue
		}
		d, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		defs[name] = d
	}
	doc := map[string]any{"definitions": defs}
	if v.draft != "" {
		doc["$schema"] = v.draft
	}
	return doc, nil
}

// prepare compiles the kinds of keys ("apiVersion/Kind") not compiled
// yet with one compiler over the definitions they reach together: kinds
// share most of theirs (ObjectMeta, PodSpec), which one compiler collects
// and checks against the metaschema once. Anything that fails here is
// left to schemaFor, which compiles and reports kind by kind.
func (v *k8sVersion) prepare(keys []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var todo, defs []string
	for _, key := range keys {
		def, ok := v.kinds[key]
		if _, done := v.compiled.Load(key); ok && !done {
			todo, defs = append(todo, key), append(defs, def)
		}
	}
	if len(todo) < 2 {
		return
	}
	doc, err := v.docFor(defs...)
	if err != nil {
		return
	}
	c := newCompiler()
	if c.AddResource(v.url(), doc) != nil {
		return
	}
	for i, key := range todo {
		if s, err := c.Compile(v.url() + "#/definitions/" + escapePointer(defs[i])); err == nil {
			v.compiles.Add(1)
			v.compiled.Store(key, s)
		}
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// newCompiler returns a draft-04 compiler that can load nothing from
// outside: every schema it compiles is added to it first.
func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.UseLoader(noLoader{})
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: validateDuration})
	c.RegisterFormat(&jsonschema.Format{Name: "byte", Validate: validateBase64})
	return c
}

// noLoader refuses every reference the compiler was not given: schemas are
// offline by construction.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema %s is not embedded and gate does not fetch schemas", url)
}

// Bundles is the set of embedded Kubernetes versions.
type Bundles struct {
	versions map[string]*k8sVersion
	order    []string // ascending minors
}

var bundleNameRe = regexp.MustCompile(`^kubernetes-(\d+\.\d+)\.json\.gz$`)

// LoadBundles indexes the schema bundles in fsys (the embedded ones when
// fsys is nil). Bundles are decompressed lazily, on first use. An empty
// set is an error: gate never validates against nothing.
func LoadBundles(fsys fs.FS) (*Bundles, error) {
	dir := "."
	if fsys == nil {
		fsys, dir = embedded, "bundles"
	}
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read schema bundles: %w", err)
	}
	b := &Bundles{versions: map[string]*k8sVersion{}}
	for _, e := range ents {
		m := bundleNameRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		b.versions[m[1]] = &k8sVersion{minor: m[1], file: path.Join(dir, e.Name()), fsys: fsys}
		b.order = append(b.order, m[1])
	}
	if len(b.order) == 0 {
		return nil, fmt.Errorf("no Kubernetes schema bundles found: gate cannot validate (rebuild gate with `go generate ./checks/schema`)")
	}
	sort.Slice(b.order, func(i, j int) bool { return minorLess(b.order[i], b.order[j]) })
	return b, nil
}

// DefaultKubernetesVersion is the Kubernetes minor version an environment
// that names none is validated against: the newest embedded one. Other
// stages (the policy stage's data.gate.env) use it so every check of an
// environment agrees on its version.
func DefaultKubernetesVersion() string {
	b, err := LoadBundles(nil)
	if err != nil {
		return ""
	}
	return b.Newest()
}

// Versions lists the embedded minor versions, oldest first.
func (b *Bundles) Versions() []string { return append([]string(nil), b.order...) }

// Newest is the default version for environments that name none.
func (b *Bundles) Newest() string { return b.order[len(b.order)-1] }

var versionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$`)

// Resolve maps an environment's kubernetesVersion ("1.35", "v1.35.2", "")
// to an embedded version. A version gate carries no schemas for is an
// error naming the ones it has.
func (b *Bundles) Resolve(want string) (*k8sVersion, error) {
	v, err := b.version(want)
	if err != nil {
		return nil, err
	}
	if err := v.load(); err != nil {
		return nil, err
	}
	return v, nil
}

// version is Resolve without reading the bundle (load it before use).
func (b *Bundles) version(want string) (*k8sVersion, error) {
	want = strings.TrimSpace(want)
	if want == "" {
		want = b.Newest()
	}
	m := versionRe.FindStringSubmatch(want)
	if m == nil {
		return nil, fmt.Errorf("kubernetesVersion %q: want MAJOR.MINOR like %s", want, b.Newest())
	}
	minor := m[1] + "." + m[2]
	v, ok := b.versions[minor]
	if !ok {
		return nil, fmt.Errorf("no schemas for Kubernetes %s in this gate (it has %s): set kubernetesVersion to one of them", minor, strings.Join(b.order, ", "))
	}
	return v, nil
}

func minorLess(a, b string) bool {
	am, an := splitMinor(a)
	bm, bn := splitMinor(b)
	if am != bm {
		return am < bm
	}
	return an < bn
}

func splitMinor(s string) (int, int) {
	maj, min, _ := strings.Cut(s, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a, b
}
