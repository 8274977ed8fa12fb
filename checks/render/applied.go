package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// appliedObject is a kustomize-built object as the sync tools apply it.
// kustomize hands its result on as text written by kyaml's YAML writer
// (`kustomize build`, which Argo CD's repo-server runs; `AsYaml()`, which
// Flux's kustomize-controller and helm-controller's post-renderer use),
// and that writer does not give every block scalar back: a folded scalar
// with a more-indented line, or a keep-chomped one (`|+`, `>+`) followed
// by blank lines, gains a line break. What the cluster gets is the value
// of that text, so an object holding such a scalar (atRisk) is written
// once and read back; any other object converts directly (the same value,
// without the writer). Resource files reach kustomize already as written
// (encodeDoc); this catches what kustomize reads itself: patches, generator
// inputs. The writer leaves what it wrote readable as the same value, so
// a shared subtree's output (memo.go), written and read again, keeps it.
func appliedObject(kr *resource.Resource) (map[string]any, error) {
	if !atRisk(kr.YNode()) {
		return kr.Map()
	}
	text, err := kr.AsYAML()
	if err != nil {
		return nil, fmt.Errorf("write object: %w", err)
	}
	n, err := kyaml.Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("read back what kustomize writes: %w", err)
	}
	return n.Map()
}

// resMapYAML is rm.AsYaml(), kustomize's text of a build: each object
// written as JSON and turned into YAML by sigs.k8s.io/yaml, "---" between
// them. That text is yaml.v2's Marshal of the object's value as written
// (appliedObject) when the value is one marshalObject vouches for
// (jsonStable), so such objects are written by emitObject directly, without
// the JSON and YAML detour (a third of a shared subtree's build); any
// other object is written by kustomize. TestResMapYAMLSameAsAsYamlCorpus
// compares the two over every kustomization under testdata.
func resMapYAML(rm resmap.ResMap) ([]byte, error) {
	var buf []byte
	for i, r := range rm.Resources() {
		if i > 0 {
			buf = append(buf, "---\n"...)
		}
		out, err := resourceYAML(r)
		if err != nil {
			return nil, err
		}
		buf = append(buf, out...)
	}
	return buf, nil
}

// resourceYAML is r.AsYAML() (see resMapYAML).
func resourceYAML(r *resource.Resource) ([]byte, error) {
	if !atRisk(r.YNode()) {
		if obj, err := r.Map(); err == nil && decodedStable(obj) {
			if out, ok := emitObject(normalize(obj).(map[string]any)); ok {
				return out, nil
			}
		}
	}
	return r.AsYAML()
}

// decodedStable reports whether a decoded value becomes, normalized, one
// jsonStable accepts with the same JSON: jsonStable's values, with Go ints
// too (not uint64, which normalize would wrap).
func decodedStable(v any) bool { return stableValue(v, true) }
