package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
)

// Limits on one CRD schema: a hostile or runaway schema costs bounded time.
// The largest CRDs in the wild have tens of thousands of schema nodes.
const (
	maxCRDDepth        = 128
	defaultMaxCRDNodes = 100_000
)

// crdVersion is one served (or not) version of a CustomResourceDefinition,
// with its openAPIV3Schema converted to a strict draft-04 schema.
type crdVersion struct {
	APIVersion string
	Kind       string
	CRD        string // metadata.name of the CRD
	Served     bool
	Storage    bool
	Deprecated bool
	Warning    string
	// Schema is the converted schema as a JSON document, nil when the
	// version declares none (preserveUnknownFields).
	Schema any
	// Hash addresses the converted schema, so one compiled schema serves
	// every environment and run that has the same CRD.
	Hash string
}

// crdVersions reads a CustomResourceDefinition (apiextensions.k8s.io v1 or
// v1beta1) and converts the schema of every version.
// maxNodes bounds the size of each converted schema.
func crdVersions(obj map[string]any, maxNodes int) ([]crdVersion, error) {
	spec, _ := obj["spec"].(map[string]any)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if spec == nil {
		return nil, fmt.Errorf("CustomResourceDefinition %s has no spec", name)
	}
	group, _ := spec["group"].(string)
	names, _ := spec["names"].(map[string]any)
	kind, _ := names["kind"].(string)
	if group == "" || kind == "" {
		return nil, fmt.Errorf("CustomResourceDefinition %s: spec.group and spec.names.kind are required", name)
	}
	// v1beta1 allowed one schema for all versions.
	var shared any
	if val, ok := spec["validation"].(map[string]any); ok {
		shared = val["openAPIV3Schema"]
	}
	versions, _ := spec["versions"].([]any)
	if len(versions) == 0 {
		if v, ok := spec["version"].(string); ok && v != "" {
			versions = []any{map[string]any{"name": v, "served": true, "storage": true}}
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("CustomResourceDefinition %s declares no versions", name)
	}
	var out []crdVersion
	for i, x := range versions {
		v, _ := x.(map[string]any)
		vname, _ := v["name"].(string)
		if vname == "" {
			return nil, fmt.Errorf("CustomResourceDefinition %s: spec.versions[%d] has no name", name, i)
		}
		cv := crdVersion{APIVersion: group + "/" + vname, Kind: kind, CRD: name, Served: true}
		if s, ok := v["served"].(bool); ok {
			cv.Served = s
		}
		cv.Storage, _ = v["storage"].(bool)
		cv.Deprecated, _ = v["deprecated"].(bool)
		cv.Warning, _ = v["deprecationWarning"].(string)
		raw := shared
		if sch, ok := v["schema"].(map[string]any); ok && sch["openAPIV3Schema"] != nil {
			raw = sch["openAPIV3Schema"]
		}
		if raw != nil {
			conv, err := convertCRDSchema(raw, maxNodes)
			if err != nil {
				return nil, fmt.Errorf("CustomResourceDefinition %s version %s: %w", name, vname, err)
			}
			b, err := json.Marshal(conv)
			if err != nil {
				return nil, fmt.Errorf("CustomResourceDefinition %s version %s: %w", name, vname, err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("CustomResourceDefinition %s version %s: %w", name, vname, err)
			}
			sum := sha256.Sum256(b)
			cv.Schema, cv.Hash = doc, hex.EncodeToString(sum[:])
		}
		out = append(out, cv)
	}
	return out, nil
}

// convertCRDSchema turns a structural openAPIV3Schema into a draft-04
// schema with the API server's semantics: unknown fields are rejected
// unless x-kubernetes-preserve-unknown-fields says otherwise, nullable adds
// null, x-kubernetes-int-or-string accepts both, embedded resources get
// apiVersion, kind and metadata. The root gets apiVersion, kind and
// metadata, which a CRD schema may leave out.
func convertCRDSchema(raw any, maxNodes int) (map[string]any, error) {
	if maxNodes <= 0 {
		maxNodes = defaultMaxCRDNodes
	}
	c := &crdConverter{max: maxNodes}
	root, err := c.node(raw, 0)
	if err != nil {
		return nil, err
	}
	addObjectMeta(root)
	root["$schema"] = "http://json-schema.org/draft-04/schema#"
	return root, nil
}

type crdConverter struct{ nodes, max int }

// crdKept are the keywords of a structural schema that mean the same in
// draft-04.
var crdKept = map[string]bool{
	"format": true, "enum": true, "required": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true,
	"minItems": true, "maxItems": true, "uniqueItems": true,
	"minProperties": true, "maxProperties": true,
}

func (c *crdConverter) node(v any, depth int) (map[string]any, error) {
	c.nodes++
	if c.nodes > c.max {
		return nil, fmt.Errorf("openAPIV3Schema has more than %d schema nodes; gate refuses to compile it", c.max)
	}
	if depth > maxCRDDepth {
		return nil, fmt.Errorf("openAPIV3Schema nests deeper than %d levels; gate refuses to compile it", maxCRDDepth)
	}
	n, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("schema node is a %T, want an object", v)
	}
	if _, ok := n["$ref"]; ok {
		return nil, fmt.Errorf("$ref is not allowed in a CRD schema")
	}
	out := map[string]any{}
	for k, x := range n {
		switch {
		case crdKept[k]:
			out[k] = x
		case k == "type":
			if t, ok := x.(string); ok && t != "" {
				out["type"] = t
			}
		case k == "properties":
			props, err := c.properties(x, depth)
			if err != nil {
				return nil, err
			}
			out[k] = props
		case k == "items":
			it, err := c.node(x, depth+1)
			if err != nil {
				return nil, fmt.Errorf("items: %w", err)
			}
			out[k] = it
		case k == "additionalProperties":
			if b, ok := x.(bool); ok {
				out[k] = b
				continue
			}
			ap, err := c.node(x, depth+1)
			if err != nil {
				return nil, fmt.Errorf("additionalProperties: %w", err)
			}
			out[k] = ap
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			arr, ok := x.([]any)
			if !ok {
				return nil, fmt.Errorf("%s must be a list", k)
			}
			conv := make([]any, 0, len(arr))
			for i, s := range arr {
				cs, err := c.node(s, depth+1)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
				// Structural schemas allow value validations without a
				// type in these branches; they mean the same in draft-04.
				conv = append(conv, cs)
			}
			out[k] = conv
		case k == "not":
			cs, err := c.node(x, depth+1)
			if err != nil {
				return nil, fmt.Errorf("not: %w", err)
			}
			out[k] = cs
		}
	}
	applyKubernetesExtensions(n, out)
	return out, nil
}

// properties converts a node's properties, in key order.
func (c *crdConverter) properties(x any, depth int) (map[string]any, error) {
	pm, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("properties must be an object")
	}
	props := make(map[string]any, len(pm))
	for _, pk := range sortedKeys(pm) {
		p, err := c.node(pm[pk], depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pk, err)
		}
		props[pk] = p
	}
	return props, nil
}

// applyKubernetesExtensions gives the converted node out what the
// Kubernetes extensions of the CRD node n mean in JSON schema:
// int-or-string, embedded resources, nullable, and structural pruning
// (an object without preserve-unknown-fields holds only its properties).
func applyKubernetesExtensions(n, out map[string]any) {
	preserve := n["x-kubernetes-preserve-unknown-fields"] == true
	if n["x-kubernetes-int-or-string"] == true {
		out["type"] = []any{"integer", "string"}
	}
	if n["x-kubernetes-embedded-resource"] == true {
		addObjectMeta(out)
	}
	if n["nullable"] == true {
		switch t := out["type"].(type) {
		case string:
			out["type"] = []any{t, "null"}
		case []any:
			out["type"] = append(t, "null")
		}
		if e, ok := out["enum"].([]any); ok {
			out["enum"] = append(e, nil)
		}
	}
	if out["type"] == "object" || hasType(out, "object") {
		_, hasProps := out["properties"]
		_, hasAP := out["additionalProperties"]
		if !preserve && !hasAP {
			if !hasProps {
				// A structural object with neither properties nor
				// additionalProperties holds nothing: the API server prunes
				// every field it is given.
				out["properties"] = map[string]any{}
			}
			out["additionalProperties"] = false
		}
	}
}

func hasType(n map[string]any, t string) bool {
	ts, ok := n["type"].([]any)
	if !ok {
		return false
	}
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// addObjectMeta declares apiVersion, kind and metadata on an object schema:
// the API server validates metadata itself (gate does so in metadata.go).
func addObjectMeta(n map[string]any) {
	props, _ := n["properties"].(map[string]any)
	if props == nil {
		if n["additionalProperties"] == nil {
			// preserve-unknown-fields object: nothing to add.
			return
		}
		props = map[string]any{}
		n["properties"] = props
	}
	for _, k := range []string{"apiVersion", "kind"} {
		if _, ok := props[k]; !ok {
			props[k] = map[string]any{"type": "string"}
		}
	}
	// Whatever a CRD says about metadata, the API server only honours
	// name and generateName restrictions; the rest is ObjectMeta.
	props["metadata"] = map[string]any{"type": "object"}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isCRD reports whether a rendered object is a CustomResourceDefinition.
func isCRD(apiVersion, kind string) bool {
	return kind == "CustomResourceDefinition" && strings.HasPrefix(apiVersion, "apiextensions.k8s.io/")
}
