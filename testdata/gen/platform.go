package main

import (
	"fmt"
	"strings"
)

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
