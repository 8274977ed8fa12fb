// Command gen writes a synthetic ops repo of realistic shape for gate's
// benchmark (`make bench`) and for anyone who wants to try gate at scale.
//
// The repo looks like the ones teams keep for Argo CD or Flux: a catalog of
// apps, each a kustomize base (Deployment, Service, ServiceAccount,
// ConfigMap from a configMapGenerator, HorizontalPodAutoscaler,
// PodDisruptionBudget, a custom resource, and for web-facing apps an
// Ingress and a certificate) with one overlay per tier; shared platform
// kustomizations (CRDs, a local Helm chart inflated through kustomize
// helmCharts, a network-policy component); and N environments, each picking
// M apps from the catalog over its tier's overlays. gate.yaml declares the
// environments with tier and region labels.
//
// The output is a pure function of the flags: the same seed writes the
// same bytes, so benchmark runs compare like with like.
//
// Usage:
//
//	go run ./testdata/gen -out DIR [-envs 50] [-apps 24] [-seed 1] [-layout kustomize|flux]
//
// With -layout flux the same catalog is laid out the way Flux repos are
// (fluxcd/flux2-kustomize-helm-example's shape, at scale): one
// clusters/<env> directory per environment holding Flux Kustomizations
// (the shared CRDs; the env's apps, dependsOn the CRDs) and HelmReleases
// of the repo's chart with per-cluster values, instead of kustomize
// helmCharts.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	var o Options
	flag.StringVar(&o.Out, "out", "", "directory to write the repo to (created; must be empty or absent)")
	flag.IntVar(&o.Envs, "envs", 50, "number of environments")
	flag.IntVar(&o.Apps, "apps", 24, "apps per environment (the catalog holds 1.5x as many)")
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed: the same seed writes the same repo")
	flag.IntVar(&o.HelmEvery, "helm-every", 4, "every Nth environment also inflates the local Helm chart (0: none)")
	flag.BoolVar(&o.Violations, "violations", true, "seed a few policy violations, as real repos have")
	flag.StringVar(&o.KubeVersion, "kube-version", "1.35", "defaults.kubernetesVersion in gate.yaml")
	flag.StringVar(&o.Layout, "layout", "kustomize", "kustomize (envs/<env> overlays) or flux (clusters/<env> of Flux Kustomizations and HelmReleases)")
	flag.IntVar(&o.Releases, "releases", 4, "with -layout flux: HelmReleases per cluster")
	flag.Parse()
	if o.Out == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -out DIR [-envs N] [-apps M] [-seed S]")
		os.Exit(2)
	}
	st, err := Generate(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: %s layout, %d environments (%d with the Helm chart, %d HelmReleases), %d catalog apps, %d files, about %d rendered resources -> %s\n",
		o.Layout, st.Envs, st.HelmEnvs, st.HelmReleases, st.CatalogApps, st.Files, st.Resources, o.Out)
}

// Options shape the generated repo.
type Options struct {
	Out         string
	Envs        int
	Apps        int
	Seed        uint64
	HelmEvery   int
	Violations  bool
	KubeVersion string
	// Layout is "kustomize" (default) or "flux".
	Layout string
	// Releases is the number of HelmReleases per Flux cluster.
	Releases int
}

// Stats describe what Generate wrote.
type Stats struct {
	Envs, HelmEnvs, CatalogApps, Files, Resources int
	// HelmReleases counts the Flux layout's HelmReleases.
	HelmReleases int
	// EnvNames lists the environments in gate.yaml order.
	EnvNames []string
}

var tiers = []string{"production", "staging", "development"}

var tierShort = map[string]string{"production": "prod", "staging": "stg", "development": "dev"}

var regions = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"}

var words = []string{
	"checkout", "payments", "cart", "catalog", "search", "accounts", "orders", "inventory",
	"shipping", "billing", "reviews", "pricing", "notify", "gateway", "auth", "profile",
	"ledger", "fraud", "ratings", "media", "reports", "export", "import", "scheduler",
	"loyalty", "coupons", "tax", "returns", "wishlist", "sessions", "audit", "quota",
	"metrics", "webhooks", "ingest", "mailer", "invoices", "stock", "recommend", "feeds",
	"geo", "chat", "tickets", "docs", "assets", "cdn-edge", "sync", "backup",
}

type app struct {
	Name    string
	Web     bool // has an Ingress and a Certificate
	Port    int
	Version string
	// Bad marks apps that carry a seeded policy violation.
	NoLimits  bool
	LatestDev bool
}

type env struct {
	Name, Tier, Region string
	Apps               []*app
	Helm               bool
	Replicas           int
	Patched            *app
	// Flux: the CRDs come through the cluster's own Kustomization.
	Flux bool
}

type writer struct {
	root  string
	files int
	err   error
}

func (w *writer) write(rel, body string) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		w.err = err
		return
	}
	w.files++
}

// Generate writes the repo and returns what it wrote.
func Generate(o Options) (Stats, error) {
	if o.Envs <= 0 || o.Apps <= 0 {
		return Stats{}, fmt.Errorf("-envs and -apps must be positive")
	}
	if o.KubeVersion == "" {
		o.KubeVersion = "1.35"
	}
	flux := false
	switch o.Layout {
	case "", "kustomize":
	case "flux":
		flux = true
		if o.Releases <= 0 || o.Releases > len(releaseNames) {
			return Stats{}, fmt.Errorf("-releases must be 1..%d", len(releaseNames))
		}
	default:
		return Stats{}, fmt.Errorf("-layout %q: want kustomize or flux", o.Layout)
	}
	if ents, err := os.ReadDir(o.Out); err == nil && len(ents) > 0 {
		return Stats{}, fmt.Errorf("%s is not empty", o.Out)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	w := &writer{root: o.Out}

	catalog := makeCatalog(rng, o.Apps+(o.Apps+1)/2, o.Violations)
	for _, a := range catalog {
		writeApp(w, a)
	}
	writePlatform(w)

	var envs []*env
	perTier := map[string]int{}
	for i := 0; i < o.Envs; i++ {
		tier := tiers[0]
		switch r := i % 10; {
		case r < 3:
			tier = "production"
		case r < 6:
			tier = "staging"
		default:
			tier = "development"
		}
		perTier[tier]++
		e := &env{
			Name:     fmt.Sprintf("%s-%02d", tierShort[tier], perTier[tier]),
			Tier:     tier,
			Region:   regions[rng.IntN(len(regions))],
			Helm:     o.HelmEvery > 0 && i%o.HelmEvery == o.HelmEvery-1,
			Replicas: 2 + rng.IntN(4),
		}
		idx := rng.Perm(len(catalog))[:min(o.Apps, len(catalog))]
		sort.Ints(idx)
		for _, j := range idx {
			e.Apps = append(e.Apps, catalog[j])
		}
		e.Patched = e.Apps[rng.IntN(len(e.Apps))]
		envs = append(envs, e)
	}
	st := Stats{Envs: len(envs), CatalogApps: len(catalog)}
	for _, e := range envs {
		if flux {
			e.Helm = false // the chart comes through HelmReleases
			e.Flux = true
		}
		writeEnv(w, e)
		if flux {
			writeCluster(w, e, o.Releases)
			st.HelmReleases += o.Releases
			st.Resources += 2 + o.Releases + 3*o.Releases // Flux objects, chart objects
		}
		st.EnvNames = append(st.EnvNames, e.Name)
		// Namespace, NetworkPolicy, env-settings ConfigMap, three CRDs.
		st.Resources += 6
		for _, a := range e.Apps {
			st.Resources += 7
			if a.Web {
				st.Resources += 2
			}
		}
		if e.Helm {
			st.HelmEnvs++
			st.Resources += 3
		}
	}
	writeGateYAML(w, envs, o.KubeVersion, flux)
	writeReadme(w, o, st)
	st.Files = w.files
	return st, w.err
}

func makeCatalog(rng *rand.Rand, n int, violations bool) []*app {
	var out []*app
	for i := 0; i < n; i++ {
		name := words[i%len(words)]
		if i >= len(words) {
			name = fmt.Sprintf("%s-%d", name, i/len(words)+1)
		}
		a := &app{
			Name:    name,
			Web:     rng.IntN(2) == 0,
			Port:    8000 + rng.IntN(1000),
			Version: fmt.Sprintf("1.%d.%d", rng.IntN(30), rng.IntN(10)),
		}
		out = append(out, a)
	}
	if violations && n >= 3 {
		// Two apps a policy gate should catch: one ships without resource
		// limits, one runs :latest in development.
		out[rng.IntN(n)].NoLimits = true
		out[rng.IntN(n)].LatestDev = true
	}
	return out
}

func writeEnv(w *writer, e *env) {
	dir := "envs/" + e.Name
	var k strings.Builder
	k.WriteString(kustHeader)
	fmt.Fprintf(&k, "namespace: %s\n", e.Name)
	fmt.Fprintf(&k, "labels:\n  - pairs:\n      gate.example/env: %s\n      gate.example/tier: %s\n", e.Name, e.Tier)
	k.WriteString("resources:\n  - namespace.yaml\n")
	if !e.Flux {
		k.WriteString("  - ../../platform/crds\n")
	}
	if e.Helm {
		k.WriteString("  - ../../platform/cache\n")
	}
	for _, a := range e.Apps {
		fmt.Fprintf(&k, "  - ../../apps/%s/overlays/%s\n", a.Name, e.Tier)
	}
	k.WriteString("components:\n  - ../../components/network-policy\n")
	fmt.Fprintf(&k, "configMapGenerator:\n  - name: env-settings\n    literals:\n      - ENVIRONMENT=%s\n      - REGION=%s\n      - TIER=%s\n", e.Name, e.Region, e.Tier)
	fmt.Fprintf(&k, "patches:\n  - target:\n      kind: Deployment\n      name: %s\n    path: replicas.yaml\n", e.Patched.Name)
	w.write(dir+"/kustomization.yaml", k.String())
	w.write(dir+"/replicas.yaml", fmt.Sprintf("- op: replace\n  path: /spec/replicas\n  value: %d\n", e.Replicas))
	w.write(dir+"/namespace.yaml", fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    gate.example/tier: %s\n", e.Name, e.Tier))
}

func writeGateYAML(w *writer, envs []*env, kubeVersion string, flux bool) {
	dir := "envs/"
	if flux {
		dir = "clusters/"
	}
	var b strings.Builder
	b.WriteString("# Generated by testdata/gen: a synthetic ops repo for gate's benchmark.\napiVersion: gate/v1\n")
	fmt.Fprintf(&b, "defaults:\n  kubernetesVersion: %q\n", kubeVersion)
	b.WriteString("environments:\n")
	for _, e := range envs {
		fmt.Fprintf(&b, "  - name: %s\n    path: %s%s\n    labels: {tier: %s, region: %s}\n", e.Name, dir, e.Name, e.Tier, e.Region)
	}
	w.write("gate.yaml", b.String())
}

func writeReadme(w *writer, o Options, st Stats) {
	w.write("README.md", fmt.Sprintf(`# Synthetic ops repo

Generated by `+"`go run ./testdata/gen -envs %d -apps %d -seed %d`"+` in gate's repo, for its
benchmark. %d environments over %d catalog apps (apps/<app>/base and one overlay per tier),
shared CRDs in platform/crds, a local Helm chart in platform/cache used by %d environments
through kustomize helmCharts, and a network-policy component. About %d rendered resources.
`, o.Envs, o.Apps, o.Seed, st.Envs, st.CatalogApps, st.HelmEnvs, st.Resources))
}
