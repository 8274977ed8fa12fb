package render

import (
	"strconv"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

// TestParseOriginAnnSameAsYAML: reading the forms markedOrigin writes
// directly gives what reading them as YAML gives, for paths with every
// kind of character, and kustomize's own forms still read as YAML.
func TestParseOriginAnnSameAsYAML(t *testing.T) {
	paths := []string{"../../apps/web/deploy.yaml", "a b/c.yaml", "x: y.yaml", "#c.yaml", "ü/日本.yaml", `q"uote.yaml`, `back\slash.yaml`,
		"tab\t.yaml", "nl\n.yaml", "\u2028.yaml", "'single'.yaml", "", "-", "null", "~", "true", "1", "&a", "*a", "!t"}
	var anns []string
	for _, p := range paths {
		anns = append(anns, "path: "+strconv.Quote(p)+"\n",
			"configuredIn: "+strconv.Quote(p)+"\nconfiguredBy:\n  kind: ConfigMapGenerator\n",
			"configuredIn: "+strconv.Quote(p)+"\nconfiguredBy:\n  kind: SecretGenerator\n",
			"path: "+p+"\n", "configuredIn: "+p+"\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n")
	}
	anns = append(anns, "", "path: \"a\"", "path: \"a\"\nrepo: x\n", "configuredIn: \"k\"\nconfiguredBy:\n  kind: Other\n")
	for _, a := range anns {
		var want originAnn
		_ = sigsyaml.Unmarshal([]byte(a), &want)
		if got := parseOriginAnn(a); got != want {
			t.Errorf("%q: got %+v, YAML reads %+v", a, got, want)
		}
	}
}
