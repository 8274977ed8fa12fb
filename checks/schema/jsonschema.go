package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strings"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gate-ops/gate/checks"
)

// jsonSchemaNameRe is kubeconform's file layout for custom resource
// schemas (openapi2jsonschema, the CRDs catalog): KIND_VERSION.json, kind
// in lower case, in a directory named after the API group.
var jsonSchemaNameRe = regexp.MustCompile(`^([a-z0-9]+)_(v[0-9]+(?:(?:alpha|beta)[0-9]+)?)\.json$`)

// jsonSchemaKey indexes JSON schema files: kubeconform's file names carry
// the kind in lower case, so the lookup ignores case.
func jsonSchemaKey(group, version, kind string) string {
	return strings.ToLower(group) + "|" + version + "|" + strings.ToLower(kind)
}

// isJSONSchemaDoc tells a JSON schema from a Kubernetes object (a CRD
// written as JSON): schemas have no top-level kind string.
func isJSONSchemaDoc(b []byte) (map[string]any, bool) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, false
	}
	if _, isObject := m["kind"].(string); isObject {
		return nil, false
	}
	for _, k := range []string{"$schema", "properties", "type", "allOf", "anyOf", "oneOf", "$ref"} {
		if _, ok := m[k]; ok {
			return m, true
		}
	}
	return nil, false
}

// jsonSchemaFile reads a kubeconform-style JSON schema from schemas.paths:
// the kind and version come from the file name, the group from its
// directory (none when the directory is not an API group, and then the
// schema serves that kind and version in any group). The schema is used as
// it is: kubeconform's catalogs generated with -strict already forbid
// unknown fields.
func jsonSchemaFile(p string, b []byte, doc map[string]any, maxNodes int) (string, *crdEntry, error) {
	m := jsonSchemaNameRe.FindStringSubmatch(path.Base(p))
	if m == nil {
		return "", nil, fmt.Errorf("JSON schema %s: name it KIND_VERSION.json (kubeconform's layout, e.g. servicemonitor_v1.json) in a directory named after the API group (monitoring.coreos.com/), so gate knows which objects it validates", path.Base(p))
	}
	if maxNodes <= 0 {
		maxNodes = defaultMaxCRDNodes
	}
	if n := countNodes(doc, maxNodes+1); n > maxNodes {
		return "", nil, fmt.Errorf("JSON schema %s has more than %d nodes", path.Base(p), maxNodes)
	}
	kind, version := m[1], m[2]
	group := path.Base(path.Dir(p))
	if !strings.Contains(group, ".") {
		group = ""
	}
	apiVersion := version
	if group != "" {
		apiVersion = group + "/" + version
	}
	sum := sha256.Sum256(b)
	e := &crdEntry{
		crdVersion: crdVersion{APIVersion: apiVersion, Kind: kind, CRD: p, Served: true, Storage: true, Schema: doc, Hash: hex.EncodeToString(sum[:])},
		origin:     checks.Origin{File: p, Line: 1},
		jsonFile:   true,
	}
	return jsonSchemaKey(group, version, kind), e, nil
}

// countNodes counts schema nodes up to limit.
func countNodes(v any, limit int) int {
	n := 0
	var walk func(any)
	walk = func(v any) {
		if n > limit {
			return
		}
		n++
		switch t := v.(type) {
		case map[string]any:
			for _, x := range t {
				walk(x)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	walk(v)
	return n
}
