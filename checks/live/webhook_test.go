package live_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/internal/testing/kubetest"
)

// admissionWebhook is a real validating admission webhook on loopback TLS,
// called by the API server: it refuses ConfigMaps whose data.mode is
// "forbidden", like a policy engine (Kyverno, Gatekeeper) would.
func admissionWebhook(t *testing.T) (url string, caBundle []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Request    struct {
				UID    string `json:"uid"`
				DryRun bool   `json:"dryRun"`
				Object struct {
					Data map[string]string `json:"data"`
				} `json:"object"`
			} `json:"request"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := map[string]any{"uid": review.Request.UID, "allowed": true}
		if review.Request.Object.Data["mode"] == "forbidden" {
			resp["allowed"] = false
			resp["status"] = map[string]any{"code": 403, "message": "mode forbidden is not allowed by policy team-rules"}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}) //nolint:errcheck // test server
	}))
	t.Cleanup(srv.Close)
	return srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// installWebhook registers the webhook for ConfigMaps in one namespace.
// Since admissionregistration/v1 every webhook declares sideEffects None or
// NoneOnDryRun, so the API server always calls it on a dry run.
func installWebhook(t *testing.T, name, ns, url string, ca []byte, sideEffects string) {
	t.Helper()
	dyn, _ := clients(t)
	cfg := map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
		"metadata": map[string]any{"name": name},
		"webhooks": []any{map[string]any{
			"name":                    name + ".gate.test",
			"admissionReviewVersions": []any{"v1"},
			"sideEffects":             sideEffects,
			"failurePolicy":           "Fail",
			"timeoutSeconds":          int64(5),
			"clientConfig":            map[string]any{"url": url + "/validate", "caBundle": ca}, // []byte: base64 in JSON
			"namespaceSelector":       map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}},
			"rules": []any{map[string]any{
				"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE", "UPDATE"}, "resources": []any{"configmaps"},
			}},
		}},
	}
	gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(gvr).Apply(context.Background(), name, &unstructured.Unstructured{Object: obj}, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
		t.Fatalf("install webhook: %v", err)
	}
	t.Cleanup(func() { dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}) }) //nolint:errcheck // best effort
}

// TestAdmissionWebhookRefusalIsAnErrorOnTheLine: a real webhook refusing
// the dry run is an error finding on the source line; the webhook is asked
// with dryRun set (it declares no side effects).
func TestAdmissionWebhookRefusalIsAnErrorOnTheLine(t *testing.T) {
	kubetest.Need(t, server)
	const ns = "webhook"
	base := renderRepo(t, repo(ns, nil))
	deploy(t, base, ns)
	url, ca := admissionWebhook(t)
	installWebhook(t, "gate-test-policy", ns, url, ca, "None")
	cm := strings.Replace(baseFiles["app/configmap.yaml"], "LOG_LEVEL: info", "LOG_LEVEL: info\n  mode: forbidden", 1)
	head := renderRepo(t, repo(ns, map[string]*string{"app/configmap.yaml": &cm}))
	var errs []checks.Finding
	for deadline := time.Now().Add(20 * time.Second); ; { // webhook configurations reach admission through an informer
		res := compare(t, head, base, live.Options{})
		if errs = errorFindings(res.Findings); len(errs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(errs) != 1 || errs[0].RuleID != live.RuleRejected || !strings.Contains(errs[0].Message, "mode forbidden is not allowed by policy team-rules") {
		t.Fatalf("want one %s error with the webhook's message, got %v", live.RuleRejected, errs)
	}
	if want := (checks.Origin{File: "app/configmap.yaml", Line: lineOf(t, cm, "mode: forbidden")}); errs[0].Origin != want {
		t.Errorf("origin %v, want %v (the line the webhook refuses)", errs[0].Origin, want)
	}
}
