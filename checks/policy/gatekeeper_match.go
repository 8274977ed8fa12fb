// Gatekeeper: which objects a constraint applies to (its match block).

package policy

import (
	"strings"

	"github.com/gate-ops/gate/checks"
)

// gkMatch is Gatekeeper's match block.
type gkMatch struct {
	Kinds []struct {
		APIGroups []string `json:"apiGroups"`
		Kinds     []string `json:"kinds"`
	} `json:"kinds"`
	Scope              string      `json:"scope"`
	Namespaces         []string    `json:"namespaces"`
	ExcludedNamespaces []string    `json:"excludedNamespaces"`
	LabelSelector      *gkSelector `json:"labelSelector"`
	NamespaceSelector  *gkSelector `json:"namespaceSelector"`
	Name               string      `json:"name"`
}

type gkSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"matchExpressions"`
}

func (s *gkSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, has := labels[e.Key]
		in := false
		for _, x := range e.Values {
			if x == v {
				in = true
			}
		}
		switch e.Operator {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// wildcard matches Gatekeeper's prefix (kube-*) and suffix (*-system) globs.
func wildcard(pattern, s string) bool {
	switch {
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(s, strings.TrimSuffix(pattern, "*"))
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(s, strings.TrimPrefix(pattern, "*"))
	}
	return pattern == s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matchResult says whether a constraint applies to an object; undecidable
// when it depends on the labels of a namespace the environment does not render.
type matchResult int

const (
	noMatch matchResult = iota
	matched
	undecidable
)

// matches applies the match block the way Gatekeeper does. nsLabels holds
// the labels of the Namespaces the environment renders.
func (m *gkMatch) matches(r *checks.Resource, labels map[string]string, nsLabels map[string]map[string]string) matchResult {
	isNS := r.ID.Kind == "Namespace" && r.ID.Group == ""
	if len(m.Kinds) > 0 {
		ok := false
		for _, k := range m.Kinds {
			kindOK := len(k.Kinds) == 0 || contains(k.Kinds, "*") || contains(k.Kinds, r.ID.Kind)
			groupOK := len(k.APIGroups) == 0 || contains(k.APIGroups, "*") || contains(k.APIGroups, r.ID.Group)
			if kindOK && groupOK {
				ok = true
				break
			}
		}
		if !ok {
			return noMatch
		}
	}
	hasNS := r.ID.Namespace != ""
	switch m.Scope {
	case "Cluster":
		if !(isNS || !hasNS) {
			return noMatch
		}
	case "Namespaced":
		if isNS || !hasNS {
			return noMatch
		}
	}
	ns := r.ID.Namespace
	if isNS {
		ns = r.ID.Name
	}
	if len(m.Namespaces) > 0 && ns != "" {
		ok := false
		for _, n := range m.Namespaces {
			if wildcard(n, ns) {
				ok = true
			}
		}
		if !ok {
			return noMatch
		}
	}
	if ns != "" {
		for _, n := range m.ExcludedNamespaces {
			if wildcard(n, ns) {
				return noMatch
			}
		}
	}
	if m.LabelSelector != nil && !m.LabelSelector.matches(labels) {
		return noMatch
	}
	if m.NamespaceSelector != nil {
		switch {
		case isNS:
			if !m.NamespaceSelector.matches(labels) {
				return noMatch
			}
		case !hasNS:
			// cluster-scoped objects match, as in Gatekeeper
		default:
			nl, ok := nsLabels[r.ID.Namespace]
			if !ok {
				return undecidable
			}
			if !m.NamespaceSelector.matches(nl) {
				return noMatch
			}
		}
	}
	if m.Name != "" && !wildcard(m.Name, r.ID.Name) {
		return noMatch
	}
	return matched
}
