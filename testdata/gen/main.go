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

const kustHeader = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"

func writeApp(w *writer, a *app) {
	base := "apps/" + a.Name + "/base"
	res := []string{"deployment.yaml", "service.yaml", "serviceaccount.yaml", "hpa.yaml", "pdb.yaml", "probe.yaml"}
	if a.Web {
		res = append(res, "ingress.yaml", "certificate.yaml")
	}
	var k strings.Builder
	k.WriteString(kustHeader)
	fmt.Fprintf(&k, "labels:\n  - pairs:\n      app.kubernetes.io/name: %s\n      app.kubernetes.io/part-of: shop\n    includeSelectors: true\n", a.Name)
	k.WriteString("resources:\n")
	for _, r := range res {
		fmt.Fprintf(&k, "  - %s\n", r)
	}
	fmt.Fprintf(&k, "configMapGenerator:\n  - name: %s-config\n    files:\n      - config/app.properties\n    literals:\n      - LOG_LEVEL=info\n      - PORT=%d\n", a.Name, a.Port)
	w.write(base+"/kustomization.yaml", k.String())
	w.write(base+"/config/app.properties", fmt.Sprintf("service.name=%s\nservice.port=%d\ncache.ttl=300\nfeature.flags=alpha,beta\nupstream.timeout=5s\n", a.Name, a.Port))

	limits := `            limits:
              cpu: 500m
              memory: 256Mi
`
	if a.NoLimits {
		limits = ""
	}
	w.write(base+"/deployment.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  annotations:
    gate.example/owner: team-%[1]s
spec:
  replicas: 1
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      component: server
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        component: server
    spec:
      serviceAccountName: %[1]s
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        fsGroup: 10001
      containers:
        - name: server
          image: registry.gate.example/%[1]s:%[2]s
          args: ["--config", "/etc/%[1]s/app.properties"]
          ports:
            - name: http
              containerPort: %[3]d
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
          envFrom:
            - configMapRef:
                name: env-settings
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
          livenessProbe:
            httpGet:
              path: /livez
              port: http
            initialDelaySeconds: 10
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
%[4]s          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: config
              mountPath: /etc/%[1]s
      volumes:
        - name: config
          configMap:
            name: %[1]s-config
`, a.Name, a.Version, a.Port, limits))
	w.write(base+"/service.yaml", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  type: ClusterIP
  selector:
    component: server
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
`, a.Name))
	w.write(base+"/serviceaccount.yaml", fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\nautomountServiceAccountToken: false\n", a.Name))
	w.write(base+"/hpa.yaml", fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: %[1]s
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: %[1]s
  minReplicas: 1
  maxReplicas: 4
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 75
`, a.Name))
	w.write(base+"/pdb.yaml", fmt.Sprintf(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: %s
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      component: server
`, a.Name))
	w.write(base+"/probe.yaml", fmt.Sprintf(`apiVersion: monitoring.gate.example/v1
kind: Probe
metadata:
  name: %[1]s
spec:
  target: http://%[1]s/healthz
  intervalSeconds: 30
  timeoutSeconds: 5
`, a.Name))
	if a.Web {
		w.write(base+"/ingress.yaml", fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %[1]s
  annotations:
    gate.example/rate-limit: "100"
spec:
  ingressClassName: nginx
  tls:
    - hosts: ["%[1]s.shop.gate.example"]
      secretName: %[1]s-tls
  rules:
    - host: %[1]s.shop.gate.example
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: %[1]s
                port:
                  name: http
`, a.Name))
		w.write(base+"/certificate.yaml", fmt.Sprintf(`apiVersion: certs.gate.example/v1
kind: Certificate
metadata:
  name: %[1]s
spec:
  secretName: %[1]s-tls
  dnsNames:
    - %[1]s.shop.gate.example
  issuer: letsencrypt
  renewBefore: 720h
`, a.Name))
	}

	for _, t := range tiers {
		ov := "apps/" + a.Name + "/overlays/" + t
		var k strings.Builder
		k.WriteString(kustHeader)
		k.WriteString("resources:\n  - ../../base\n")
		fmt.Fprintf(&k, "commonAnnotations:\n  gate.example/tier: %s\n", t)
		switch t {
		case "production":
			k.WriteString("patches:\n  - path: production.yaml\n  - target:\n      kind: HorizontalPodAutoscaler\n    patch: |-\n      - op: replace\n        path: /spec/minReplicas\n        value: 3\n      - op: replace\n        path: /spec/maxReplicas\n        value: 12\n")
			w.write(ov+"/production.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: server
          resources:
            requests:
              cpu: 250m
              memory: 256Mi
`, a.Name))
		case "staging":
			k.WriteString("patches:\n  - target:\n      kind: Deployment\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 2\n")
		case "development":
			fmt.Fprintf(&k, "configMapGenerator:\n  - name: %s-config\n    behavior: merge\n    literals:\n      - LOG_LEVEL=debug\n", a.Name)
			if a.LatestDev {
				fmt.Fprintf(&k, "images:\n  - name: registry.gate.example/%s\n    newTag: latest\n", a.Name)
			}
		}
		w.write(ov+"/kustomization.yaml", k.String())
	}
}

func crd(group, kind, plural string, props string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[3]s.%[1]s
spec:
  group: %[1]s
  names:
    kind: %[2]s
    listKind: %[2]sList
    plural: %[3]s
    singular: %[4]s
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
%[5]s`, group, kind, plural, strings.ToLower(kind), props)
}

func writePlatform(w *writer) {
	w.write("platform/crds/kustomization.yaml", kustHeader+"resources:\n  - probes.yaml\n  - certificates.yaml\n  - backups.yaml\n")
	w.write("platform/crds/probes.yaml", crd("monitoring.gate.example", "Probe", "probes", `              required: [target]
              properties:
                target:
                  type: string
                intervalSeconds:
                  type: integer
                  minimum: 5
                timeoutSeconds:
                  type: integer
                  minimum: 1
`))
	w.write("platform/crds/certificates.yaml", crd("certs.gate.example", "Certificate", "certificates", `              required: [secretName, dnsNames]
              properties:
                secretName:
                  type: string
                dnsNames:
                  type: array
                  items:
                    type: string
                issuer:
                  type: string
                renewBefore:
                  type: string
`))
	w.write("platform/crds/backups.yaml", crd("backup.gate.example", "BackupSchedule", "backupschedules", `              required: [schedule]
              properties:
                schedule:
                  type: string
                retentionDays:
                  type: integer
`))

	w.write("components/network-policy/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - default-deny.yaml\n")
	w.write("components/network-policy/default-deny.yaml", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
  policyTypes:
    - Ingress
`)

	// A local chart, inflated through kustomize helmCharts by some envs.
	w.write("platform/cache/kustomization.yaml", kustHeader+`helmCharts:
  - name: cache
    releaseName: cache
    valuesFile: values.yaml
`)
	w.write("platform/cache/values.yaml", "replicas: 2\nimage:\n  tag: 7.2.5\nmaxMemory: 256mb\n")
	w.write("platform/cache/charts/cache/Chart.yaml", `apiVersion: v2
name: cache
description: An in-memory cache shared by the shop's services.
type: application
version: 0.4.0
appVersion: "7.2.5"
`)
	w.write("platform/cache/charts/cache/values.yaml", `replicas: 1
image:
  repository: registry.gate.example/redis
  tag: 7.2.4
maxMemory: 128mb
resources:
  requests:
    cpu: 50m
    memory: 128Mi
  limits:
    cpu: 500m
    memory: 512Mi
`)
	w.write("platform/cache/charts/cache/templates/_helpers.tpl", `{{- define "cache.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cache.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
`)
	w.write("platform/cache/charts/cache/templates/deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cache.fullname" . }}
  labels:
    {{- include "cache.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        {{- include "cache.labels" . | nindent 8 }}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
      containers:
        - name: redis
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          args: ["--maxmemory", "{{ .Values.maxMemory }}"]
          ports:
            - name: redis
              containerPort: 6379
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
          volumeMounts:
            - name: config
              mountPath: /usr/local/etc/redis
      volumes:
        - name: config
          configMap:
            name: {{ include "cache.fullname" . }}
`)
	w.write("platform/cache/charts/cache/templates/service.yaml", `apiVersion: v1
kind: Service
metadata:
  name: {{ include "cache.fullname" . }}
  labels:
    {{- include "cache.labels" . | nindent 4 }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - name: redis
      port: 6379
      targetPort: redis
`)
	w.write("platform/cache/charts/cache/templates/configmap.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "cache.fullname" . }}
  labels:
    {{- include "cache.labels" . | nindent 4 }}
data:
  redis.conf: |
    maxmemory {{ .Values.maxMemory }}
    maxmemory-policy allkeys-lru
`)
	w.write("platform/cache/charts/cache/templates/NOTES.txt", "The cache is reachable at {{ include \"cache.fullname\" . }}:6379.\n")
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

// releaseNames are the Flux layout's HelmReleases of the repo's chart, one
// per role a cluster runs it in.
var releaseNames = []string{"cache", "sessions", "queue", "ratelimit", "search-cache", "feature-flags", "locks", "leaderboard"}

// writeCluster writes a Flux cluster entry point for e: a Kustomization of
// the shared CRDs, one of the env's apps (dependsOn the CRDs) and n
// HelmReleases of platform/cache's chart with values per cluster and role.
func writeCluster(w *writer, e *env, n int) {
	dir := "clusters/" + e.Name
	w.write(dir+"/infrastructure.yaml", `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-crds
  namespace: flux-system
spec:
  interval: 1h
  prune: false
  path: ./platform/crds
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
	w.write(dir+"/apps.yaml", fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  dependsOn:
    - name: infra-crds
  prune: true
  wait: true
  path: ./envs/%s
  sourceRef:
    kind: GitRepository
    name: flux-system
`, e.Name))
	var b strings.Builder
	for i, r := range releaseNames[:n] {
		if i > 0 {
			b.WriteString("---\n")
		}
		mem := 64 << (i % 3)
		fmt.Fprintf(&b, `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  interval: 30m
  chart:
    spec:
      chart: ./platform/cache/charts/cache
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
  install:
    remediation:
      retries: 3
  values:
    replicas: %[3]d
    maxMemory: %[4]dmb
    image:
      tag: 7.2.%[5]d
    resources:
      requests:
        cpu: 50m
        memory: %[4]dMi
      limits:
        cpu: 500m
        memory: %[6]dMi
`, r, e.Name, 1+e.Replicas%3, mem, 4+i%3, 2*mem)
	}
	w.write(dir+"/releases.yaml", b.String())
}
