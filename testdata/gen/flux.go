package main

import (
	"fmt"
	"strings"
)

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
