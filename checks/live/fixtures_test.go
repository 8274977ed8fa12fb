package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/testing/kubetest"
)

// server is one real etcd + kube-apiserver shared by the package's tests;
// every test works in its own namespaces.
var server *kubetest.Server

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &server)) }

// The ops repo every test starts from; NS is replaced by the test's
// namespace so tests never see each other's objects.
var baseFiles = map[string]string{
	"app/kustomization.yaml": `resources:
- namespace.yaml
- deployment.yaml
- configmap.yaml
- secret.yaml
`,
	"app/namespace.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: NS
`,
	"app/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
`,
	"app/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: NS
data:
  LOG_LEVEL: info
`,
	"app/secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: NS
type: Opaque
stringData:
  password: hunter2-base-value
`,
}

// repo returns the base files for ns with edits applied (a nil value
// deletes a file).
func repo(ns string, edits map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range baseFiles {
		out[k] = strings.ReplaceAll(v, "NS", ns)
	}
	for k, v := range edits {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = strings.ReplaceAll(*v, "NS", ns)
	}
	return out
}

func ptr(s string) *string { return &s }

func renderRepo(t testing.TB, files map[string]string) *render.Result {
	t.Helper()
	env := checks.Env{Name: "prod", Path: "app", Kind: render.KindKustomize}
	res := render.New(render.Options{}).Render(context.Background(), source.NewMem("test", files), env)
	if len(res.Findings) > 0 {
		t.Fatalf("render: %v", res.Findings)
	}
	return res
}

// deploy applies a rendering for real, the way Argo CD would: server-side
// apply as argocd-controller, with its tracking label.
func deploy(t testing.TB, res *render.Result, app string) {
	t.Helper()
	deployWith(t, res, map[string]string{live.LabelArgoInstance: app})
}

// deployWith applies a rendering with the given tracking labels, as the
// GitOps controller that sets them would.
func deployWith(t testing.TB, res *render.Result, tracking map[string]string) {
	t.Helper()
	deployAs(t, res, tracking, "")
}

// deployAs applies a rendering with tracking labels and, when argoApp is
// set, Argo CD's tracking annotation on every object (annotation tracking,
// Argo CD 3's default: "<app>:<group>/<kind>:<namespace>/<name>").
func deployAs(t testing.TB, res *render.Result, tracking map[string]string, argoApp string) {
	t.Helper()
	ctx := context.Background()
	dyn, mapper := clients(t)
	for _, r := range res.Resources {
		u := &unstructured.Unstructured{Object: deepCopyJSON(t, r.Object)}
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range tracking {
			labels[k] = v
		}
		if len(labels) > 0 {
			u.SetLabels(labels)
		}
		if argoApp != "" {
			ann := u.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[live.AnnotationArgoTracking] = argoApp + ":" + r.ID.Group + "/" + r.ID.Kind + ":" + u.GetNamespace() + "/" + u.GetName()
			u.SetAnnotations(ann)
		}
		m, err := mapper.RESTMapping(schema.GroupKind{Group: r.ID.Group, Kind: r.ID.Kind}, r.ID.Version)
		if err != nil {
			t.Fatalf("map %s: %v", r.ID, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "argocd-controller", Force: true}); err != nil {
			t.Fatalf("deploy %s: %v", r.ID, err)
		}
	}
}

func clients(t testing.TB) (*dynamic.DynamicClient, meta.RESTMapper) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(server.Config)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(server.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
}

func deepCopyJSON(t testing.TB, obj map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func compare(t *testing.T, head, base *render.Result, opts live.Options) *live.Result {
	t.Helper()
	c, err := cluster.New(server.Config, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := live.Compare(context.Background(), c, head, base, opts)
	for _, f := range res.Findings {
		t.Logf("finding: %s", f)
	}
	t.Logf("live: %q", changeSummary(res.Live))
	t.Logf("drift: %q", changeSummary(res.Drift))
	return res
}

func errorFindings(fs []checks.Finding) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.Severity == checks.SeverityError {
			out = append(out, f)
		}
	}
	return out
}

func changeSummary(d *checks.EnvDiff) []string {
	if d == nil {
		return nil
	}
	var out []string
	for _, c := range d.Changes {
		s := c.Action + " " + c.ID.String()
		for _, f := range c.Fields {
			s += fmt.Sprintf(" [%s: %q -> %q]", f.Path, f.Old, f.New)
		}
		out = append(out, s)
	}
	return out
}

func wantChanges(t *testing.T, what string, d *checks.EnvDiff, want ...string) {
	t.Helper()
	got := changeSummary(d)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s changes:\n got: %q\nwant: %q", what, got, want)
	}
}

func lineOf(t *testing.T, file, needle string) int {
	t.Helper()
	for i, l := range strings.Split(file, "\n") {
		if strings.Contains(l, needle) {
			return i + 1
		}
	}
	t.Fatalf("%q not in file", needle)
	return 0
}
