package diff

import (
	"regexp"
	"strconv"
	"strings"
)

// seg is one step of a field path: a map key, or a list item addressed by
// its name (when every item of the list has a unique "name") or its index.
type seg struct {
	key   string // map key, or the item name for named list items
	index int    // list index in the object the path was taken from
	list  bool
	named bool
}

var plainKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// text renders one segment the way it appears in a field path.
func (s seg) text() string {
	switch {
	case s.list && s.named:
		return "[name=" + s.key + "]"
	case s.list:
		return "[" + strconv.Itoa(s.index) + "]"
	case plainKeyRe.MatchString(s.key):
		return s.key
	default:
		return `["` + s.key + `"]`
	}
}

// formatPath renders a field path:
//
//	spec.template.spec.containers[name=web].image
//	metadata.annotations["example.com/expose"]
//	spec.ports[0].port
//
// Map keys are joined with dots; keys that are not plain words are quoted in
// brackets; list items are addressed by name when every item of the list
// has a unique name (the merge key kubectl and kustomize use), else by index.
func formatPath(p []seg) string {
	var b strings.Builder
	for i, s := range p {
		t := s.text()
		if i > 0 && !s.list && !strings.HasPrefix(t, "[") {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

// locPath is the path as checks.Locator wants it: keys and list indexes.
func locPath(p []seg) []string {
	out := make([]string, len(p))
	for i, s := range p {
		if s.list {
			out[i] = strconv.Itoa(s.index)
		} else {
			out[i] = s.key
		}
	}
	return out
}
