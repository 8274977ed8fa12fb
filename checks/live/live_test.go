package live_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/testing/kubetest"
)

func TestUnchangedEnvironmentShowsNoDiff(t *testing.T) {
	kubetest.Need(t, server)
	files := repo("unchanged", nil)
	base := renderRepo(t, files)
	deploy(t, base, "unchanged")
	res := compare(t, renderRepo(t, files), base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	wantChanges(t, "live", res.Live)
	wantChanges(t, "drift", res.Drift)
	if res.Selector != "argocd.argoproj.io/instance=unchanged" {
		t.Errorf("prune selector %q, want the Argo CD tracking label", res.Selector)
	}
}

func TestReplicaChangeShowsExactlyThatField(t *testing.T) {
	kubetest.Need(t, server)
	base := renderRepo(t, repo("replicas", nil))
	deploy(t, base, "replicas")
	dep := strings.Replace(baseFiles["app/deployment.yaml"], "replicas: 2", "replicas: 5", 1)
	head := renderRepo(t, repo("replicas", map[string]*string{"app/deployment.yaml": &dep}))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	wantChanges(t, "live", res.Live, `changed Deployment/replicas/web [spec.replicas: "2" -> "5"]`)
	wantChanges(t, "drift", res.Drift)
	c := res.Live.Changes[0]
	if want := (checks.Origin{File: "app/deployment.yaml", Line: lineOf(t, dep, "replicas: 5")}); c.Origin != want {
		t.Errorf("change origin %v, want %v (the replicas line)", c.Origin, want)
	}
	if !strings.Contains(c.Unified, "-  replicas: 2") || !strings.Contains(c.Unified, "+  replicas: 5") {
		t.Errorf("unified diff does not show the replica change:\n%s", c.Unified)
	}
}

func TestNewNamespaceAndObjectsInIt(t *testing.T) {
	kubetest.Need(t, server)
	base := renderRepo(t, repo("newns", nil))
	deploy(t, base, "newns")
	head := renderRepo(t, repo("newns", map[string]*string{
		"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- extra.yaml\n"),
		"app/extra.yaml": ptr(`apiVersion: v1
kind: Namespace
metadata:
  name: NS-extra
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra-settings
  namespace: NS-extra
data:
  MODE: fresh
`),
	}))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("objects in a namespace the change creates must not be errors: %v", errs)
	}
	wantChanges(t, "live", res.Live,
		"added ConfigMap/newns-extra/extra-settings",
		"added Namespace/newns-extra",
	)
	var notice bool
	for _, f := range res.Findings {
		if f.RuleID == live.RuleNewNamespace && strings.Contains(f.Message, `"newns-extra"`) {
			notice = true
		}
	}
	if !notice {
		t.Errorf("want a %s notice, got %v", live.RuleNewNamespace, res.Findings)
	}
	for _, c := range res.Live.Changes {
		if c.ID.Kind == "ConfigMap" && !strings.Contains(c.Unified, "+  MODE: fresh") {
			t.Errorf("added ConfigMap diff lacks its data:\n%s", c.Unified)
		}
	}
}

func TestImmutableSelectorChangeIsAnErrorOnTheSourceLine(t *testing.T) {
	kubetest.Need(t, server)
	base := renderRepo(t, repo("immutable", nil))
	deploy(t, base, "immutable")
	dep := strings.ReplaceAll(baseFiles["app/deployment.yaml"], "app: web", "app: web-v2")
	head := renderRepo(t, repo("immutable", map[string]*string{"app/deployment.yaml": &dep}))
	res := compare(t, head, base, live.Options{})
	errs := errorFindings(res.Findings)
	if len(errs) == 0 {
		t.Fatalf("a Deployment selector change must be an error, got findings %v", res.Findings)
	}
	f := errs[0]
	if f.RuleID != live.RuleRejected || f.Resource == nil || f.Resource.Kind != "Deployment" {
		t.Errorf("finding %v, want %s on the Deployment", f, live.RuleRejected)
	}
	if !strings.Contains(f.Message, "immutable") {
		t.Errorf("message %q does not say the field is immutable", f.Message)
	}
	if f.Path != "spec.selector" {
		t.Errorf("path %q, want spec.selector", f.Path)
	}
	if want := (checks.Origin{File: "app/deployment.yaml", Line: lineOf(t, dep, "selector:")}); f.Origin != want {
		t.Errorf("origin %v, want %v (the selector line)", f.Origin, want)
	}
	for _, c := range res.Live.Changes {
		if c.ID.Kind == "Deployment" {
			t.Errorf("a rejected object must not appear as a change: %+v", c)
		}
	}
}

func TestHandEditedLiveObjectShowsAsDrift(t *testing.T) {
	kubetest.Need(t, server)
	files := repo("drift", nil)
	base := renderRepo(t, files)
	deploy(t, base, "drift")
	// Someone scales and relabels by hand.
	dyn, _ := clients(t)
	patch := []byte(`{"spec":{"replicas":7}}`)
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("drift").
		Patch(context.Background(), "web", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	res := compare(t, renderRepo(t, files), base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	wantChanges(t, "drift", res.Drift, `changed Deployment/drift/web [spec.replicas: "2" -> "7"]`)
	// The drift entry names the field's line in the base, not the object's.
	if got, want := res.Drift.Changes[0].Origin, (checks.Origin{File: "app/deployment.yaml", Line: lineOf(t, baseFiles["app/deployment.yaml"], "replicas:")}); got != want {
		t.Errorf("drift origin %v, want %v (the replicas line)", got, want)
	}
	// The pull request changes nothing; syncing it would undo the drift.
	wantChanges(t, "live", res.Live, `changed Deployment/drift/web [spec.replicas: "7" -> "2"]`)
}

func TestSecretChangeShowsNoValue(t *testing.T) {
	kubetest.Need(t, server)
	base := renderRepo(t, repo("secret", nil))
	deploy(t, base, "secret")
	sec := strings.Replace(baseFiles["app/secret.yaml"], "hunter2-base-value", "correct-horse-head-value", 1)
	head := renderRepo(t, repo("secret", map[string]*string{"app/secret.yaml": &sec}))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if len(res.Live.Changes) != 1 || res.Live.Changes[0].ID.Kind != "Secret" {
		t.Fatalf("want exactly the Secret changed, got %q", changeSummary(res.Live))
	}
	c := res.Live.Changes[0]
	if len(c.Fields) != 1 || c.Fields[0].Path != "data.password" || c.Fields[0].Old == c.Fields[0].New {
		t.Errorf("want one changed key data.password with different hashes, got %+v", c.Fields)
	}
	// The server keeps stringData as data: the change still points at
	// the stringData line the author edited.
	if want := (checks.Origin{File: "app/secret.yaml", Line: lineOf(t, sec, "password:")}); c.Origin != want {
		t.Errorf("Secret change origin %v, want %v", c.Origin, want)
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"hunter2-base-value", "correct-horse-head-value"} {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			if strings.Contains(string(out), form) {
				t.Errorf("secret value %q leaked into the result: %s", form, out)
			}
		}
	}
}

func TestUnknownKindAndCustomResourceOfNewCRD(t *testing.T) {
	kubetest.Need(t, server)
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: probes.monitoring.gate.test
spec:
  group: monitoring.gate.test
  names: {kind: Probe, plural: probes, singular: probe}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`
	head := renderRepo(t, repo("crd", map[string]*string{
		"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- crd.yaml\n- probe.yaml\n- widget.yaml\n"),
		"app/crd.yaml":           &crd,
		"app/probe.yaml":         ptr("apiVersion: monitoring.gate.test/v1\nkind: Probe\nmetadata:\n  name: web\n  namespace: NS\nspec:\n  url: http://web\n"),
		"app/widget.yaml":        ptr("apiVersion: nowhere.gate.test/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: NS\n"),
	}))
	base := renderRepo(t, repo("crd", nil))
	deploy(t, base, "crd")
	res := compare(t, head, base, live.Options{})
	errs := errorFindings(res.Findings)
	if len(errs) != 1 || errs[0].RuleID != live.RuleUnknownKind || errs[0].Resource.Kind != "Widget" {
		t.Fatalf("want one %s error for Widget, got %v", live.RuleUnknownKind, errs)
	}
	if errs[0].Origin.File != "app/widget.yaml" || errs[0].Origin.Line != 2 {
		t.Errorf("unknown kind origin %v, want app/widget.yaml:2 (the kind line)", errs[0].Origin)
	}
	wantChanges(t, "live", res.Live,
		"added CustomResourceDefinition/probes.monitoring.gate.test",
		"added Probe/crd/web",
	)
}

func TestUnreachableClusterIsAFindingNotAHang(t *testing.T) {
	// A port that accepts connections and never answers, and one that
	// refuses them: both must end as a live/unreachable error in time.
	hang := hangingListener(t)
	for name, host := range map[string]string{"silent": "https://" + hang, "refused": "https://127.0.0.1:1"} {
		t.Run(name, func(t *testing.T) {
			cfg := *restConfigFor(host)
			c, err := cluster.New(&cfg, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			head := renderRepo(t, repo("unreachable", nil))
			done := make(chan *live.Result, 1)
			go func() {
				done <- live.Compare(context.Background(), c, head, nil, live.Options{PingTimeout: 2 * time.Second})
			}()
			var res *live.Result
			select {
			case res = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("live comparison hung on an unreachable cluster")
			}
			t.Logf("findings: %v", res.Findings)
			if len(res.Findings) != 1 || res.Findings[0].RuleID != live.RuleUnreachable || res.Findings[0].Severity != checks.SeverityError {
				t.Fatalf("want one %s error, got %v", live.RuleUnreachable, res.Findings)
			}
			if res.Findings[0].Origin.File != "app" {
				t.Errorf("finding origin %v, want the environment path", res.Findings[0].Origin)
			}
			if res.Live != nil {
				t.Errorf("an unreachable cluster must not produce a diff (it would read as no changes)")
			}
		})
	}
}

// TestReadOnlyAccessFromRBACManifest binds the documented read-only
// ClusterRole (internal/cluster/rbac.yaml, applied as written) and compares
// as that identity: get and list are enough for the diff, the prune preview
// and drift; the missing dry-run permission is a warning, not a failure.
func TestReadOnlyAccessFromRBACManifest(t *testing.T) {
	kubetest.Need(t, server)
	ctx := context.Background()
	dyn, mapper := clients(t)
	for _, doc := range strings.Split(string(cluster.RBAC), "\n---\n") {
		var obj map[string]any
		if err := sigsyaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		if obj["kind"] == "ClusterRole" && nestedName(obj) == "gate-live-dry-run" {
			continue // the optional role stays unbound
		}
		u := &unstructured.Unstructured{Object: obj}
		gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
		m, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: u.GetKind()}, gv.Version)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(m.Resource).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
			t.Fatalf("apply rbac.yaml %s: %v", u.GetName(), err)
		}
	}
	base := renderRepo(t, repo("readonly", nil))
	deploy(t, base, "readonly")
	dep := strings.Replace(baseFiles["app/deployment.yaml"], "replicas: 2", "replicas: 3", 1)
	head := renderRepo(t, repo("readonly", map[string]*string{"app/deployment.yaml": &dep}))
	c, err := cluster.New(server.ConfigFor(kubetest.ReaderUser), 0)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC changes reach the authorizer through an informer: wait for it.
	var res *live.Result
	deadline := time.Now().Add(20 * time.Second)
	for {
		res = live.Compare(ctx, c, head, base, live.Options{})
		if len(errorFindings(res.Findings)) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, f := range res.Findings {
		t.Logf("finding: %s", f)
	}
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("get/list must be enough to compare, got errors: %v", errs)
	}
	var warned bool
	for _, f := range res.Findings {
		warned = warned || (f.RuleID == live.RuleDryRunForbidden && f.Severity == checks.SeverityWarning)
	}
	if !warned {
		t.Errorf("want a %s warning when the dry run is not permitted", live.RuleDryRunForbidden)
	}
	wantChanges(t, "live", res.Live, `changed Deployment/readonly/web [spec.replicas: "2" -> "3"]`)
	wantChanges(t, "drift", res.Drift)
}

func nestedName(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	s, _ := md["name"].(string)
	return s
}

// TestAdmissionPolicyRefusalLandsOnTheField installs a real admission
// policy (a ValidatingAdmissionPolicy, evaluated in the API server) and
// checks its refusal of the dry run becomes an error on the source line of
// the field it blames.
func TestAdmissionPolicyRefusalLandsOnTheField(t *testing.T) {
	kubetest.Need(t, server)
	ctx := context.Background()
	dyn, _ := clients(t)
	policy := map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
		"metadata": map[string]any{"name": "max-replicas"},
		"spec": map[string]any{
			"failurePolicy": "Fail",
			"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{
				"apiGroups": []any{"apps"}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE", "UPDATE"}, "resources": []any{"deployments"},
			}}},
			"validations": []any{map[string]any{
				"expression": "object.spec.replicas <= 10", "message": "at most 10 replicas", "reason": "Invalid",
			}},
		},
	}
	binding := map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
		"metadata": map[string]any{"name": "max-replicas"},
		"spec": map[string]any{
			"policyName":        "max-replicas",
			"validationActions": []any{"Deny"},
			"matchResources":    map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "admission"}}},
		},
	}
	for res, obj := range map[string]map[string]any{"validatingadmissionpolicies": policy, "validatingadmissionpolicybindings": binding} {
		gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: res}
		if _, err := dyn.Resource(gvr).Apply(ctx, "max-replicas", &unstructured.Unstructured{Object: obj}, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
			t.Fatalf("install %s: %v", res, err)
		}
	}
	base := renderRepo(t, repo("admission", nil))
	deploy(t, base, "admission")
	dep := strings.Replace(baseFiles["app/deployment.yaml"], "replicas: 2", "replicas: 50", 1)
	head := renderRepo(t, repo("admission", map[string]*string{"app/deployment.yaml": &dep}))
	// The policy reaches admission through an informer: wait for it.
	var errs []checks.Finding
	for deadline := time.Now().Add(20 * time.Second); ; {
		res := compare(t, head, base, live.Options{})
		if errs = errorFindings(res.Findings); len(errs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(errs) != 1 || errs[0].RuleID != live.RuleRejected || !strings.Contains(errs[0].Message, "at most 10 replicas") {
		t.Fatalf("want one %s error with the policy's message, got %v", live.RuleRejected, errs)
	}
	if want := (checks.Origin{File: "app/deployment.yaml", Line: lineOf(t, dep, "replicas: 50")}); errs[0].Origin != want {
		t.Errorf("origin %v, want %v (the replicas line)", errs[0].Origin, want)
	}
}

func TestObjectDeletedByHandIsDrift(t *testing.T) {
	kubetest.Need(t, server)
	files := repo("deleted", nil)
	base := renderRepo(t, files)
	deploy(t, base, "deleted")
	dyn, _ := clients(t)
	if err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("deleted").
		Delete(context.Background(), "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res := compare(t, renderRepo(t, files), base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	wantChanges(t, "drift", res.Drift, "removed ConfigMap/deleted/settings")
	wantChanges(t, "live", res.Live, "added ConfigMap/deleted/settings")
}

func TestTimeoutIsOneFindingAndNoDiff(t *testing.T) {
	kubetest.Need(t, server)
	files := repo("timeout", nil)
	base := renderRepo(t, files)
	deploy(t, base, "timeout")
	res := compare(t, renderRepo(t, files), base, live.Options{Timeout: time.Microsecond})
	if len(res.Findings) != 1 || res.Findings[0].RuleID != live.RuleTimeout || res.Findings[0].Severity != checks.SeverityError {
		t.Fatalf("want one %s error, got %v", live.RuleTimeout, res.Findings)
	}
	if res.Live != nil || res.Drift != nil {
		t.Error("a comparison cut short must not produce a (partial) diff")
	}
}

const probeCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: checks.monitoring.gate.test
spec:
  group: monitoring.gate.test
  names: {kind: Check, plural: checks, singular: check}
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
            properties:
              url: {type: string}
`

// TestChangedCRDAndItsCustomResources: a change that extends a CRD's schema
// and uses the new field in a custom resource must not be refused because
// the cluster still has the old CRD. The CRD goes first; its custom
// resources are then shown as rendered, with a notice, instead of a false
// live/rejected error. A custom resource that does not need the change is
// still validated by the server against the CRD in the cluster.
func TestChangedCRDAndItsCustomResources(t *testing.T) {
	kubetest.Need(t, server)
	files := func(crd, check string) map[string]*string {
		return map[string]*string{
			"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- crd.yaml\n- check.yaml\n"),
			"app/crd.yaml":           ptr(crd),
			"app/check.yaml":         ptr(check),
		}
	}
	check := "apiVersion: monitoring.gate.test/v1\nkind: Check\nmetadata:\n  name: web\n  namespace: NS\nspec:\n  url: http://web\n"
	base := renderRepo(t, repo("crdchange", files(probeCRD, check)))
	// The CRD is established asynchronously after it is applied: deploy
	// everything else, wait until its custom resources are served, then
	// deploy them.
	first := *base
	first.Resources = nil
	for _, r := range base.Resources {
		if r.ID.Kind != "Check" {
			first.Resources = append(first.Resources, r)
		}
	}
	deploy(t, &first, "crdchange")
	waitForKind(t, "monitoring.gate.test", "Check")
	deploy(t, base, "crdchange")

	newCRD := strings.Replace(probeCRD, "              url: {type: string}\n", "              url: {type: string}\n              timeoutSeconds: {type: integer}\n", 1)
	newCheck := check + "  timeoutSeconds: 5\n"
	head := renderRepo(t, repo("crdchange", files(newCRD, newCheck)))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("a custom resource using a field its CRD gains in the same change must not be an error: %v", errs)
	}
	var crdChange, checkChange bool
	for _, c := range res.Live.Changes {
		switch c.ID.Kind {
		case "CustomResourceDefinition":
			crdChange = true
		case "Check":
			for _, f := range c.Fields {
				checkChange = checkChange || (f.Path == "spec.timeoutSeconds" && f.New == "5")
			}
		}
	}
	if !crdChange || !checkChange {
		t.Errorf("want the CRD and spec.timeoutSeconds of the Check in the live diff, got %q", changeSummary(res.Live))
	}
	var notice bool
	for _, f := range res.Findings {
		notice = notice || (f.RuleID == live.RuleNewCRD && strings.Contains(f.Message, "Check.monitoring.gate.test"))
	}
	if !notice {
		t.Errorf("want a %s notice saying the Check is shown as rendered, got %v", live.RuleNewCRD, res.Findings)
	}

	// The CRD unchanged, a Check the server refuses (a string where the
	// schema wants nothing else) is still an error on its line.
	bad := "apiVersion: monitoring.gate.test/v1\nkind: Check\nmetadata:\n  name: web\n  namespace: NS\nspec:\n  url: 42\n"
	res = compare(t, renderRepo(t, repo("crdchange", files(probeCRD, bad))), base, live.Options{})
	errs := errorFindings(res.Findings)
	if len(errs) != 1 || errs[0].RuleID != live.RuleRejected || errs[0].Origin.File != "app/check.yaml" {
		t.Errorf("want one %s error on app/check.yaml for the invalid Check, got %v", live.RuleRejected, errs)
	}
}

// waitForKind waits until the API server serves group/kind (a new CRD is
// established asynchronously).
func waitForKind(t *testing.T, group, kind string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, mapper := clients(t)
		if _, err := mapper.RESTMapping(schema.GroupKind{Group: group, Kind: kind}); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.%s not served after 30s", kind, group)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAddedObjectShowsNoServerDefaults: a new object is shown with what
// the rendering sets, as the server would store it, without the fields the
// server defaults (they are no change anyone wrote); a new Secret shows its
// keys, never a value.
func TestAddedObjectShowsNoServerDefaults(t *testing.T) {
	kubetest.Need(t, server)
	const ns = "added"
	base := renderRepo(t, repo(ns, nil))
	deploy(t, base, ns)
	api := strings.NewReplacer("name: web", "name: api", "app: web", "app: api").Replace(baseFiles["app/deployment.yaml"])
	head := renderRepo(t, repo(ns, map[string]*string{
		"app/kustomization.yaml": ptr(baseFiles["app/kustomization.yaml"] + "- api.yaml\n- token.yaml\n"),
		"app/api.yaml":           &api,
		"app/token.yaml":         ptr("apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: NS\nstringData:\n  token: new-token-value-Xy81\n"),
	}))
	res := compare(t, head, base, live.Options{})
	if errs := errorFindings(res.Findings); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	wantChanges(t, "live", res.Live, "added Deployment/added/api", "added Secret/added/token")
	for _, c := range res.Live.Changes {
		t.Logf("%s:\n%s", c.ID, c.Unified)
		for _, noise := range []string{"dnsPolicy", "terminationMessagePath", "progressDeadlineSeconds", "revisionHistoryLimit", "schedulerName", "strategy", "imagePullPolicy"} {
			if strings.Contains(c.Unified, noise) {
				t.Errorf("%s shows the server default %s", c.ID, noise)
			}
		}
		switch c.ID.Kind {
		case "Deployment":
			for _, want := range []string{"+  replicas: 2", "+      - image: nginx:1.27", "+        - containerPort: 80", "+      app: api"} {
				if !strings.Contains(c.Unified, want) {
					t.Errorf("new Deployment lacks %q", want)
				}
			}
		case "Secret":
			if !strings.Contains(c.Unified, "+  token: <secret sha256:") || strings.Contains(c.Unified, "new-token-value") {
				t.Errorf("new Secret must show its key by hash only:\n%s", c.Unified)
			}
		}
	}
}
