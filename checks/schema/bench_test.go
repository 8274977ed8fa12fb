package schema

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

// benchDocs are the shapes the benchmark repeats: workloads, networking,
// config, and a custom resource validated against a rendered CRD.
var benchDocs = []string{
	`apiVersion: apps/v1
kind: Deployment
metadata: {name: web-%d, namespace: shop, labels: {app: web, app.kubernetes.io/part-of: shop}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%%, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}, annotations: {prometheus.io/scrape: "true"}}
    spec:
      serviceAccountName: web
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: web
          image: registry.example.com/web:1.2.3
          args: [--port=8080, --log-level=info]
          ports: [{name: http, containerPort: 8080}]
          env: [{name: MODE, value: production}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 512Mi}}
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 5}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: cache, mountPath: /cache}]
      volumes: [{name: cache, emptyDir: {sizeLimit: 1Gi}}]`,
	`apiVersion: v1
kind: Service
metadata: {name: web-%d, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}`,
	`apiVersion: v1
kind: ConfigMap
metadata: {name: web-config-%d, namespace: shop}
data: {app.properties: "mode=production\nthreads=8\n"}`,
	`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web-%d, namespace: shop}
spec:
  ingressClassName: nginx
  tls: [{hosts: [shop.example.com], secretName: shop-tls}]
  rules: [{host: shop.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}}]`,
	`apiVersion: batch/v1
kind: CronJob
metadata: {name: report-%d, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: registry.example.com/report:2.0}]`,
	`apiVersion: ops.example.com/v1
kind: Backup
metadata: {name: db-%d, namespace: shop}
spec: {schedule: "@daily", retention: 7, target: {kind: StatefulSet, name: db}}`,
}

const benchCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: backups.ops.example.com}
spec:
  group: ops.example.com
  scope: Namespaced
  names: {kind: Backup, plural: backups}
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
              required: [schedule, target]
              properties:
                schedule: {type: string}
                retention: {x-kubernetes-int-or-string: true}
                target:
                  type: object
                  properties: {kind: {type: string, enum: [Deployment, StatefulSet]}, name: {type: string}}`

func benchInput(b *testing.B, n int) *engine.Input {
	docs := []string{benchCRD}
	for i := range n - 1 {
		docs = append(docs, fmt.Sprintf(benchDocs[i%len(benchDocs)], i))
	}
	res := &render.Result{Env: checks.Env{Name: "bench", KubernetesVersion: "1.35"}, Resources: resourcesFromYAML(b, docs...)}
	return &engine.Input{Env: res.Env, Head: res, All: []*render.Result{res}}
}

// BenchmarkValidate10k validates 10,000 rendered resources of one
// environment with a warm stage (schemas compiled once per version and
// kind, as in a run over many environments or a long-lived server).
func BenchmarkValidate10k(b *testing.B) {
	in := benchInput(b, 10_000)
	st, _, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if fs, err := st.Check(context.Background(), in); err != nil || len(fs) != 0 {
		b.Fatalf("benchmark input is not valid: %v %v", err, fs[:min(len(fs), 3)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Check(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(in.Head.Resources))*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkValidate10kSerial is the same work on one goroutine: the
// speed-up of the parallel stage is the ratio of the two.
func BenchmarkValidate10kSerial(b *testing.B) {
	in := benchInput(b, 10_000)
	st, _, err := New(Options{Parallelism: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Check(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Check(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(in.Head.Resources))*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkColdStage includes what the first environment of a run pays:
// decompressing the bundle and compiling each kind's schema once.
func BenchmarkColdStage(b *testing.B) {
	in := benchInput(b, len(benchDocs)+1)
	b.ReportAllocs()
	for b.Loop() {
		st, _, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Check(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
