package schema

import (
	"fmt"
	"sort"
	"strings"
)

// apiChange is one entry of the curated table of deprecated and removed
// built-in API versions (from the Kubernetes deprecation guide). Kind ""
// covers every kind of the group/version.
type apiChange struct {
	APIVersion   string
	Kind         string
	DeprecatedIn string // minor version, "" when never formally deprecated
	RemovedIn    string // minor version, "" when still served
	Replacement  string // apiVersion to use instead, "" when there is none
	Note         string
}

// deprecationGuide is the curated table. Detection from the embedded specs
// (lifecycleFromSpecs) covers what is missing here.
var deprecationGuide = []apiChange{
	{APIVersion: "extensions/v1beta1", Kind: "Deployment", DeprecatedIn: "1.9", RemovedIn: "1.16", Replacement: "apps/v1"},
	{APIVersion: "extensions/v1beta1", Kind: "DaemonSet", DeprecatedIn: "1.9", RemovedIn: "1.16", Replacement: "apps/v1"},
	{APIVersion: "extensions/v1beta1", Kind: "ReplicaSet", DeprecatedIn: "1.9", RemovedIn: "1.16", Replacement: "apps/v1"},
	{APIVersion: "extensions/v1beta1", Kind: "NetworkPolicy", DeprecatedIn: "1.9", RemovedIn: "1.16", Replacement: "networking.k8s.io/v1"},
	{APIVersion: "extensions/v1beta1", Kind: "PodSecurityPolicy", DeprecatedIn: "1.11", RemovedIn: "1.16", Replacement: "", Note: "PodSecurityPolicy was removed in 1.25; use Pod Security Admission"},
	{APIVersion: "extensions/v1beta1", Kind: "Ingress", DeprecatedIn: "1.14", RemovedIn: "1.22", Replacement: "networking.k8s.io/v1"},
	{APIVersion: "apps/v1beta1", DeprecatedIn: "1.9", RemovedIn: "1.16", Replacement: "apps/v1"},
	{APIVersion: "apps/v1beta2", DeprecatedIn: "1.9", RemovedIn: "1.16", Replacement: "apps/v1"},
	{APIVersion: "networking.k8s.io/v1beta1", Kind: "Ingress", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "networking.k8s.io/v1"},
	{APIVersion: "networking.k8s.io/v1beta1", Kind: "IngressClass", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "networking.k8s.io/v1"},
	{APIVersion: "admissionregistration.k8s.io/v1beta1", Kind: "MutatingWebhookConfiguration", DeprecatedIn: "1.16", RemovedIn: "1.22", Replacement: "admissionregistration.k8s.io/v1"},
	{APIVersion: "admissionregistration.k8s.io/v1beta1", Kind: "ValidatingWebhookConfiguration", DeprecatedIn: "1.16", RemovedIn: "1.22", Replacement: "admissionregistration.k8s.io/v1"},
	{APIVersion: "apiextensions.k8s.io/v1beta1", Kind: "CustomResourceDefinition", DeprecatedIn: "1.16", RemovedIn: "1.22", Replacement: "apiextensions.k8s.io/v1"},
	{APIVersion: "apiregistration.k8s.io/v1beta1", Kind: "APIService", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "apiregistration.k8s.io/v1"},
	{APIVersion: "authentication.k8s.io/v1beta1", Kind: "TokenReview", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "authentication.k8s.io/v1"},
	{APIVersion: "authorization.k8s.io/v1beta1", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "authorization.k8s.io/v1"},
	{APIVersion: "certificates.k8s.io/v1beta1", Kind: "CertificateSigningRequest", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "certificates.k8s.io/v1"},
	{APIVersion: "coordination.k8s.io/v1beta1", Kind: "Lease", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "coordination.k8s.io/v1"},
	{APIVersion: "rbac.authorization.k8s.io/v1beta1", DeprecatedIn: "1.17", RemovedIn: "1.22", Replacement: "rbac.authorization.k8s.io/v1"},
	{APIVersion: "rbac.authorization.k8s.io/v1alpha1", DeprecatedIn: "1.17", RemovedIn: "1.22", Replacement: "rbac.authorization.k8s.io/v1"},
	{APIVersion: "scheduling.k8s.io/v1beta1", Kind: "PriorityClass", DeprecatedIn: "1.14", RemovedIn: "1.22", Replacement: "scheduling.k8s.io/v1"},
	{APIVersion: "scheduling.k8s.io/v1alpha1", Kind: "PriorityClass", DeprecatedIn: "1.14", RemovedIn: "1.17", Replacement: "scheduling.k8s.io/v1"},
	{APIVersion: "storage.k8s.io/v1beta1", Kind: "CSIDriver", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "storage.k8s.io/v1"},
	{APIVersion: "storage.k8s.io/v1beta1", Kind: "CSINode", DeprecatedIn: "1.17", RemovedIn: "1.22", Replacement: "storage.k8s.io/v1"},
	{APIVersion: "storage.k8s.io/v1beta1", Kind: "StorageClass", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "storage.k8s.io/v1"},
	{APIVersion: "storage.k8s.io/v1beta1", Kind: "VolumeAttachment", DeprecatedIn: "1.19", RemovedIn: "1.22", Replacement: "storage.k8s.io/v1"},
	{APIVersion: "storage.k8s.io/v1beta1", Kind: "CSIStorageCapacity", DeprecatedIn: "1.24", RemovedIn: "1.27", Replacement: "storage.k8s.io/v1"},
	{APIVersion: "batch/v1beta1", Kind: "CronJob", DeprecatedIn: "1.21", RemovedIn: "1.25", Replacement: "batch/v1"},
	{APIVersion: "batch/v2alpha1", Kind: "CronJob", DeprecatedIn: "1.21", RemovedIn: "1.21", Replacement: "batch/v1"},
	{APIVersion: "discovery.k8s.io/v1beta1", Kind: "EndpointSlice", DeprecatedIn: "1.21", RemovedIn: "1.25", Replacement: "discovery.k8s.io/v1"},
	{APIVersion: "events.k8s.io/v1beta1", Kind: "Event", DeprecatedIn: "1.19", RemovedIn: "1.25", Replacement: "events.k8s.io/v1"},
	{APIVersion: "autoscaling/v2beta1", Kind: "HorizontalPodAutoscaler", DeprecatedIn: "1.22", RemovedIn: "1.25", Replacement: "autoscaling/v2"},
	{APIVersion: "autoscaling/v2beta2", Kind: "HorizontalPodAutoscaler", DeprecatedIn: "1.23", RemovedIn: "1.26", Replacement: "autoscaling/v2"},
	{APIVersion: "policy/v1beta1", Kind: "PodDisruptionBudget", DeprecatedIn: "1.21", RemovedIn: "1.25", Replacement: "policy/v1"},
	{APIVersion: "policy/v1beta1", Kind: "PodSecurityPolicy", DeprecatedIn: "1.21", RemovedIn: "1.25", Replacement: "", Note: "use Pod Security Admission"},
	{APIVersion: "node.k8s.io/v1beta1", Kind: "RuntimeClass", DeprecatedIn: "1.20", RemovedIn: "1.25", Replacement: "node.k8s.io/v1"},
	{APIVersion: "flowcontrol.apiserver.k8s.io/v1beta1", DeprecatedIn: "1.23", RemovedIn: "1.26", Replacement: "flowcontrol.apiserver.k8s.io/v1"},
	{APIVersion: "flowcontrol.apiserver.k8s.io/v1beta2", DeprecatedIn: "1.26", RemovedIn: "1.29", Replacement: "flowcontrol.apiserver.k8s.io/v1"},
	{APIVersion: "flowcontrol.apiserver.k8s.io/v1beta3", DeprecatedIn: "1.29", RemovedIn: "1.32", Replacement: "flowcontrol.apiserver.k8s.io/v1"},
	{APIVersion: "v1", Kind: "Endpoints", DeprecatedIn: "1.33", Replacement: "discovery.k8s.io/v1", Note: "kind: EndpointSlice"},
	{APIVersion: "v1", Kind: "ComponentStatus", DeprecatedIn: "1.19"},
}

// lifecycle is what gate knows about an apiVersion/kind for one
// environment's Kubernetes version.
type lifecycle struct {
	removed     bool
	deprecated  bool
	since       string // version deprecated or removed in
	removedIn   string
	replacement string
	note        string
	notYet      string // first embedded version that serves it
}

func (l lifecycle) message(apiVersion, kind, minor string) string {
	var b strings.Builder
	if l.removed {
		fmt.Fprintf(&b, "%s %s is not served by Kubernetes %s", apiVersion, kind, minor)
		if l.notYet != "" {
			fmt.Fprintf(&b, " (it is served from %s)", l.notYet)
		}
		if l.since != "" {
			fmt.Fprintf(&b, " (removed in %s)", l.since)
		}
	} else {
		fmt.Fprintf(&b, "%s %s is deprecated", apiVersion, kind)
		if l.since != "" {
			fmt.Fprintf(&b, " since Kubernetes %s", l.since)
		}
		if l.removedIn != "" {
			fmt.Fprintf(&b, " and removed in Kubernetes %s", l.removedIn)
		}
	}
	switch {
	case l.replacement != "":
		fmt.Fprintf(&b, "; use apiVersion: %s", l.replacement)
		if l.note != "" {
			fmt.Fprintf(&b, " (%s)", l.note)
		}
	case l.note != "":
		fmt.Fprintf(&b, "; %s", l.note)
	default:
		b.WriteString("; there is no replacement")
	}
	return b.String()
}

// apiLifecycle judges apiVersion/kind for version v: first the curated
// table, then what the embedded specs show (a version that disappears in a
// newer bundle, or a less stable version beside a more stable one).
func (s *Stage) apiLifecycle(v *k8sVersion, apiVersion, kind string) (lifecycle, bool) {
	// The answer depends on the version and the kind alone, and a run asks
	// it for every resource: the embedded versions are scanned once per kind.
	key := lifecycleKey{minor: v.minor, apiVersion: apiVersion, kind: kind}
	if got, ok := s.lifecycles.Load(key); ok {
		a := got.(lifecycleAnswer)
		return a.l, a.known
	}
	l, known := s.lifecycleOf(v, apiVersion, kind)
	// Bounded: kinds come from the pull request, and a server's stage
	// lives for many runs.
	if s.lifecycleN.Add(1) <= maxLifecycles {
		s.lifecycles.Store(key, lifecycleAnswer{l: l, known: known})
	}
	return l, known
}

// maxLifecycles bounds the apiLifecycle memo (a repo has a few hundred kinds).
const maxLifecycles = 4096

type lifecycleKey struct{ minor, apiVersion, kind string }

type lifecycleAnswer struct {
	l     lifecycle
	known bool
}

// lifecycleOf is apiLifecycle without the memo.
func (s *Stage) lifecycleOf(v *k8sVersion, apiVersion, kind string) (lifecycle, bool) {
	for _, c := range deprecationGuide {
		if c.APIVersion != apiVersion || (c.Kind != "" && c.Kind != kind) {
			continue
		}
		switch {
		case c.RemovedIn != "" && !minorLess(v.minor, c.RemovedIn):
			return lifecycle{removed: true, since: c.RemovedIn, replacement: c.Replacement, note: c.Note}, true
		case c.DeprecatedIn != "" && !minorLess(v.minor, c.DeprecatedIn):
			return lifecycle{deprecated: true, since: c.DeprecatedIn, removedIn: c.RemovedIn, replacement: c.Replacement, note: c.Note}, true
		}
		return lifecycle{}, false
	}
	return s.lifecycleFromSpecs(v, apiVersion, kind)
}

func (s *Stage) lifecycleFromSpecs(v *k8sVersion, apiVersion, kind string) (lifecycle, bool) {
	key := apiVersion + "/" + kind
	group := groupOf(key)
	if !s.builtinGroup(group) {
		return lifecycle{}, false
	}
	var servedIn []string // embedded minors that serve the kind, ascending
	for _, m := range s.bundles.order {
		if w, err := s.bundles.Resolve(m); err == nil {
			if _, ok := w.kinds[key]; ok {
				servedIn = append(servedIn, m)
			}
		}
	}
	if len(servedIn) == 0 {
		return lifecycle{}, false // unknown to every embedded version
	}
	if _, served := v.kinds[key]; !served {
		l := lifecycle{removed: true, replacement: s.replacementIn(v, group, kind, apiVersion)}
		last := servedIn[len(servedIn)-1]
		if minorLess(last, v.minor) {
			for _, m := range s.bundles.order {
				if minorLess(last, m) {
					l.since = m
					break
				}
			}
			return l, true
		}
		l.notYet = servedIn[0]
		return l, true
	}
	// Served here. Deprecated when a newer embedded version drops it...
	for _, m := range s.bundles.order {
		if !minorLess(v.minor, m) {
			continue
		}
		w, err := s.bundles.Resolve(m)
		if err != nil {
			continue
		}
		if _, ok := w.kinds[key]; !ok {
			return lifecycle{deprecated: true, removedIn: m, replacement: s.replacementIn(w, group, kind, apiVersion)}, true
		}
	}
	// ...or when this version serves a more stable version of the kind.
	if r := s.replacementIn(v, group, kind, apiVersion); r != "" && stability(versionOf(r)) > stability(versionOf(apiVersion)) {
		return lifecycle{deprecated: true, replacement: r, note: "a more stable version is served"}, true
	}
	return lifecycle{}, false
}

// builtinGroup reports whether group is served by Kubernetes itself (so a
// missing kind there is an error, not a missing CRD).
func (s *Stage) builtinGroup(group string) bool {
	if group == "" {
		return true
	}
	for _, m := range s.bundles.order {
		if w, err := s.bundles.Resolve(m); err == nil && w.groups[group] {
			return true
		}
	}
	for _, c := range deprecationGuide {
		if g, _ := splitAPIVersion(c.APIVersion); g == group {
			return true
		}
	}
	return false
}

// replacementIn names the most stable apiVersion of group/kind that v
// serves, other than apiVersion.
func (s *Stage) replacementIn(v *k8sVersion, group, kind, apiVersion string) string {
	var cands []string
	for key := range v.kinds {
		parts := strings.Split(key, "/")
		if parts[len(parts)-1] != kind || groupOf(key) != group {
			continue
		}
		av := strings.TrimSuffix(key, "/"+kind)
		if av != apiVersion {
			cands = append(cands, av)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := stability(versionOf(cands[i])), stability(versionOf(cands[j]))
		if a != b {
			return a > b
		}
		return cands[i] > cands[j]
	})
	return cands[0]
}

func splitAPIVersion(av string) (group, version string) {
	if i := strings.LastIndexByte(av, '/'); i >= 0 {
		return av[:i], av[i+1:]
	}
	return "", av
}

func versionOf(apiVersion string) string {
	_, v := splitAPIVersion(apiVersion)
	return v
}

// stability orders Kubernetes API versions: v2 > v1 > v1beta2 > v1beta1 >
// v1alpha1.
func stability(v string) int {
	var major, sub int
	var level string
	n, _ := fmt.Sscanf(v, "v%d", &major)
	if n == 0 {
		return 0
	}
	rest := strings.TrimPrefix(v, fmt.Sprintf("v%d", major))
	switch {
	case rest == "":
		level = "ga"
	case strings.HasPrefix(rest, "beta"):
		level = "beta"
		fmt.Sscanf(strings.TrimPrefix(rest, "beta"), "%d", &sub)
	case strings.HasPrefix(rest, "alpha"):
		level = "alpha"
		fmt.Sscanf(strings.TrimPrefix(rest, "alpha"), "%d", &sub)
	}
	base := map[string]int{"alpha": 0, "beta": 1, "ga": 2}[level]
	return base*100000 + major*100 + sub
}
