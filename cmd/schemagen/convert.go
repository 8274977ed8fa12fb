package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// BundleFormat is bumped when the bundle layout changes; checks/schema
// refuses bundles of another format.
const BundleFormat = 1

// Bundle is what one embedded file holds: the definitions of one Kubernetes
// version as draft-04 JSON schema, and which definition each served kind
// uses. Per-kind schemas are "#/definitions/<name>" of this document, so
// shared types (ObjectMeta, PodSpec) are stored and compiled once.
type Bundle struct {
	Format            int    `json:"gateBundleFormat"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Source            string `json:"source"`
	Schema            string `json:"$schema"`
	// Kinds maps "apiVersion/Kind" (apps/v1/Deployment, v1/Pod) to a
	// definition name.
	Kinds       map[string]string `json:"kinds"`
	Definitions map[string]any    `json:"definitions"`
}

// QuantityPattern is resource.Quantity's syntax (the same expression the
// API server's CRD schemas use for int-or-string quantities).
const QuantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

var minorRe = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?$`)

// MinorOf turns v1.35.4 into 1.35.
func MinorOf(v string) (string, error) {
	m := minorRe.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH", v)
	}
	return m[1] + "." + m[2], nil
}

// Convert turns a Kubernetes OpenAPI v2 spec into a bundle: every
// definition made strict (additionalProperties false wherever properties
// are declared, as kubeconform's -strict schemas), descriptions and
// Kubernetes extensions dropped, int-or-string and quantities typed the way
// the API server decodes them.
func Convert(swagger []byte, version string) ([]byte, error) {
	var spec struct {
		Swagger     string                    `json:"swagger"`
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &spec); err != nil {
		return nil, fmt.Errorf("parse OpenAPI spec: %w", err)
	}
	if len(spec.Definitions) == 0 {
		return nil, fmt.Errorf("OpenAPI spec has no definitions")
	}
	b := Bundle{
		Format:            BundleFormat,
		KubernetesVersion: version,
		Source:            "k8s.io/kubernetes@" + version + " api/openapi-spec/swagger.json",
		Schema:            "http://json-schema.org/draft-04/schema#",
		Kinds:             map[string]string{},
		Definitions:       map[string]any{},
	}
	names := make([]string, 0, len(spec.Definitions))
	for n := range spec.Definitions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		def := spec.Definitions[name]
		switch {
		case strings.HasSuffix(name, ".pkg.api.resource.Quantity"):
			b.Definitions[name] = map[string]any{"type": []any{"string", "number"}, "pattern": QuantityPattern}
		default:
			b.Definitions[name] = convertNode(def)
		}
		// Kinds: definitions with exactly one group/version/kind. Meta types
		// (DeleteOptions, WatchEvent) list every group and are not objects
		// anyone applies.
		if gvks, ok := def["x-kubernetes-group-version-kind"].([]any); ok && len(gvks) == 1 {
			g, _ := gvks[0].(map[string]any)
			group, _ := g["group"].(string)
			ver, _ := g["version"].(string)
			kind, _ := g["kind"].(string)
			if ver == "" || kind == "" {
				continue
			}
			apiVersion := ver
			if group != "" {
				apiVersion = group + "/" + ver
			}
			b.Kinds[apiVersion+"/"+kind] = name
		}
	}
	if len(b.Kinds) == 0 {
		return nil, fmt.Errorf("OpenAPI spec declares no kinds")
	}
	return json.Marshal(b)
}

// kept are the JSON schema keywords draft-04 and OpenAPI v2 share.
var kept = map[string]bool{
	"type": true, "format": true, "enum": true, "required": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true,
	"minItems": true, "maxItems": true, "uniqueItems": true,
	"minProperties": true, "maxProperties": true,
}

func convertNode(v any) any {
	n, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if ref, ok := n["$ref"].(string); ok {
		// Siblings of $ref are ignored by draft-04 anyway.
		return map[string]any{"$ref": ref}
	}
	out := map[string]any{}
	for k, x := range n {
		switch {
		case kept[k]:
			out[k] = x
		case k == "properties":
			props := map[string]any{}
			if pm, ok := x.(map[string]any); ok {
				for pk, pv := range pm {
					props[pk] = convertNode(pv)
				}
			}
			out[k] = props
		case k == "items":
			out[k] = convertNode(x)
		case k == "additionalProperties":
			if _, isBool := x.(bool); isBool {
				out[k] = x
			} else {
				out[k] = convertNode(x)
			}
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			if arr, ok := x.([]any); ok {
				conv := make([]any, len(arr))
				for i, s := range arr {
					conv[i] = convertNode(s)
				}
				out[k] = conv
			}
		case k == "not":
			out[k] = convertNode(x)
		}
	}
	if out["format"] == "int-or-string" || n["x-kubernetes-int-or-string"] == true {
		delete(out, "format")
		out["type"] = []any{"integer", "string"}
	}
	if _, hasProps := out["properties"]; hasProps && n["x-kubernetes-preserve-unknown-fields"] != true {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
	}
	return out
}

// Compress gzips a bundle reproducibly (no name, no timestamp).
func Compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
