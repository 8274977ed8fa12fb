package diff

import (
	"encoding/base64"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gate-ops/gate/checks"
)

func res(t *testing.T, y string) *checks.Resource {
	t.Helper()
	var obj map[string]any
	if err := sigsyaml.Unmarshal([]byte(y), &obj); err != nil {
		t.Fatal(err)
	}
	md, _ := obj["metadata"].(map[string]any)
	g, v := checks.ParseAPIVersion(obj["apiVersion"].(string))
	ns, _ := md["namespace"].(string)
	return &checks.Resource{
		ID:     checks.ResourceID{Group: g, Version: v, Kind: obj["kind"].(string), Namespace: ns, Name: md["name"].(string)},
		Object: obj, Origin: checks.Origin{File: "x.yaml", Line: 1},
	}
}

const deployBase = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    config.kubernetes.io/origin: "path: base/deployment.yaml"
    example.com/owner: team-a
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: web:1.0
        - name: sidecar
          image: proxy:1
      tolerations:
        - key: a
        - key: b
`

func TestObjectsFieldPaths(t *testing.T) {
	head := strings.NewReplacer(
		"replicas: 2", "replicas: 3",
		"image: web:1.0", "image: web:1.1",
		"config.kubernetes.io/origin: \"path: base/deployment.yaml\"", "config.kubernetes.io/origin: \"path: other.yaml\"",
		"example.com/owner: team-a", "example.com/owner: team-b",
		"- key: b", "- key: c",
	).Replace(deployBase)
	c := Objects(res(t, deployBase), res(t, head), Options{})
	if c == nil {
		t.Fatal("no change")
	}
	got := map[string][2]string{}
	for _, f := range c.Fields {
		got[f.Path] = [2]string{f.Old, f.New}
	}
	want := map[string][2]string{
		`metadata.annotations["example.com/owner"]`: {"team-a", "team-b"},
		`spec.replicas`: {"2", "3"},
		`spec.template.spec.containers[name=web].image`: {"web:1.0", "web:1.1"},
		`spec.template.spec.tolerations[1].key`:         {"b", "c"},
	}
	if len(got) != len(want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s = %q, want %q", p, got[p], w)
		}
	}
	if c.Action != checks.ActionChanged {
		t.Errorf("action = %s", c.Action)
	}
	for _, l := range []string{"-  replicas: 2", "+  replicas: 3", "--- base/Deployment/shop/web", "+++ head/Deployment/shop/web"} {
		if !strings.Contains(c.Unified, l) {
			t.Errorf("unified diff lacks %q:\n%s", l, c.Unified)
		}
	}
	if strings.Contains(c.Unified, "config.kubernetes.io/origin") {
		t.Errorf("ignored annotation in unified diff:\n%s", c.Unified)
	}
}

func TestObjectsIgnore(t *testing.T) {
	head := strings.Replace(deployBase, "example.com/owner: team-a", "example.com/owner: team-b", 1)
	tests := []struct {
		name   string
		opts   Options
		change bool
	}{
		{"default", Options{}, true},
		{"bare dotted key", Options{Ignore: []string{"metadata.annotations.example.com/owner"}}, false},
		{"quoted key", Options{Ignore: []string{`metadata.annotations["example.com/owner"]`}}, false},
		{"glob key", Options{Ignore: []string{`metadata.annotations["example.com/*"]`}}, false},
		{"ancestor", Options{Ignore: []string{"metadata.annotations"}}, false},
		{"wildcard segment", Options{Ignore: []string{"*.annotations"}}, false},
		{"other key", Options{Ignore: []string{"metadata.annotations.example.com/other"}}, true},
		{"prefix of key is not a match", Options{Ignore: []string{"metadata.annot"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Objects(res(t, deployBase), res(t, head), tt.opts)
			if (c != nil) != tt.change {
				t.Errorf("change = %v, want %v", c, tt.change)
			}
		})
	}
	// Without the default ignores, the origin annotation is a change.
	h2 := strings.Replace(deployBase, "path: base/deployment.yaml", "path: x.yaml", 1)
	if Objects(res(t, deployBase), res(t, h2), Options{}) != nil {
		t.Error("default ignore missed config.kubernetes.io/origin")
	}
	if Objects(res(t, deployBase), res(t, h2), Options{NoDefaultIgnore: true}) == nil {
		t.Error("NoDefaultIgnore still ignored the origin annotation")
	}
	// Ignoring a list item by name.
	h3 := strings.Replace(deployBase, "image: proxy:1", "image: proxy:2", 1)
	if Objects(res(t, deployBase), res(t, h3), Options{Ignore: []string{"spec.template.spec.containers[name=sidecar]"}}) != nil {
		t.Error("[name=sidecar] not ignored")
	}
	if Objects(res(t, deployBase), res(t, h3), Options{Ignore: []string{"spec.template.spec.containers[*].image"}}) != nil {
		t.Error("[*].image not ignored")
	}
}

const canary = "canary-Zq8vXk2P-do-not-print"

func secret(t *testing.T, name, password, extra string) *checks.Resource {
	t.Helper()
	enc := base64.StdEncoding.EncodeToString([]byte(password))
	y := `apiVersion: v1
kind: Secret
metadata:
  name: ` + name + `
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"password":"` + enc + `"}}'
    note: "old password was ` + password + `"
data:
  password: ` + enc + `
  user: YWRtaW4=
stringData:
  token: ` + password + `-token
` + extra
	return res(t, y)
}

func TestSecretsNeverShown(t *testing.T) {
	base := secret(t, "db", "hunter2-old-value", "")
	head := secret(t, "db", canary, `  api-key: dmFsdWU=
`)
	head.Object["data"].(map[string]any)["api-key"] = "dmFsdWU="
	delete(head.Object["data"].(map[string]any), "user")
	opts := Options{NoDefaultIgnore: true}
	c := Objects(base, head, opts)
	if c == nil {
		t.Fatal("no change")
	}
	all := c.Unified
	paths := map[string]checks.FieldChange{}
	for _, f := range c.Fields {
		all += f.Path + f.Old + f.New
		paths[f.Path] = f
	}
	for _, bad := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary)), "hunter2-old-value", "admin", "YWRtaW4="} {
		if strings.Contains(all, bad) {
			t.Errorf("secret value %q leaked:\n%s", bad, all)
		}
	}
	for _, p := range []string{"data.password", "data.user", "data.api-key", "stringData.token"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("no field change for %s; got %v", p, c.Fields)
		}
	}
	if f := paths["data.password"]; !strings.HasPrefix(f.Old, "<secret sha256:") || f.Old == f.New {
		t.Errorf("data.password = %+v, want two different hashes", f)
	}
	if f := paths["data.user"]; f.New != "" || f.Old != "<secret "+SecretHash([]byte("admin"))+">" {
		t.Errorf("removed key = %+v", f)
	}
	// Added and removed Secrets are redacted too.
	for _, c := range []*checks.ResourceChange{Objects(nil, head, opts), Objects(base, nil, opts)} {
		if strings.Contains(c.Unified, canary) || strings.Contains(c.Unified, "hunter2") {
			t.Errorf("%s secret leaked:\n%s", c.Action, c.Unified)
		}
	}
	// The resources themselves are not modified.
	if head.Object["stringData"].(map[string]any)["token"] != canary+"-token" {
		t.Error("Objects modified its input")
	}
}

func TestScrubber(t *testing.T) {
	s := NewScrubber(SecretValues([]*checks.Resource{secret(t, "db", canary, "")}))
	tests := []struct{ in, want string }{
		{"field value " + canary + " is invalid", "field value <redacted " + SecretHash([]byte(canary)) + "> is invalid"},
		{"base64 " + base64.StdEncoding.EncodeToString([]byte(canary)), "base64 <redacted " + SecretHash([]byte(base64.StdEncoding.EncodeToString([]byte(canary)))) + ">"},
		// Short values: whole tokens only.
		{`user "admin" denied`, `user "<redacted ` + SecretHash([]byte("admin")) + `>" denied`},
		{"admin admin", "<redacted " + SecretHash([]byte("admin")) + "> <redacted " + SecretHash([]byte("admin")) + ">"},
		{"administrator admin-panel shop.admin", "administrator admin-panel shop.admin"},
	}
	for _, tt := range tests {
		if got := s.Scrub(tt.in); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var nilS *Scrubber
	if nilS.Scrub("x") != "x" {
		t.Error("nil scrubber changed text")
	}
	if got := NewScrubber([]string{"true", "ab"}).Scrub("true ab"); got != "true ab" {
		t.Errorf("trivial values scrubbed: %q", got)
	}
}

func TestEnvs(t *testing.T) {
	cm := func(name, v string) *checks.Resource {
		return res(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n  namespace: shop\ndata:\n  k: "+v+"\n")
	}
	svc := res(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  ports:\n  - port: 80\n")
	base := []*checks.Resource{res(t, deployBase), svc, cm("app-config-5m8hc9h4bf", "a"), cm("same", "x")}
	head := []*checks.Resource{res(t, strings.Replace(deployBase, "replicas: 2", "replicas: 5", 1)),
		cm("app-config-9t5cmk7fkd", "b"), cm("same", "x"), cm("extra", "y")}
	d := Envs(base, head, Options{})
	var got []string
	for _, c := range d.Changes {
		got = append(got, c.Action+" "+c.ID.String())
	}
	want := []string{
		"changed ConfigMap/shop/app-config-9t5cmk7fkd",
		"added ConfigMap/shop/extra",
		"changed Deployment/shop/web",
		"removed Service/shop/web",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ren := d.Changes[0]
	var sawName bool
	for _, f := range ren.Fields {
		if f.Path == "metadata.name" && f.Old == "app-config-5m8hc9h4bf" && f.New == "app-config-9t5cmk7fkd" {
			sawName = true
		}
	}
	if !sawName {
		t.Errorf("renamed generator: fields %+v lack metadata.name", ren.Fields)
	}
	if d.ByKind["ConfigMap"] != 2 || d.ByKind["Deployment"] != 1 || d.ByKind["Service"] != 1 {
		t.Errorf("ByKind = %v", d.ByKind)
	}
	if e := Envs(base, base, Options{}); len(e.Changes) != 0 || e.Changes == nil {
		t.Errorf("equal renderings: %+v", e)
	}
}

// fieldLocator stands in for a rendering's locator: metadata.namespace is
// set on line 3 of the environment's kustomization, metadata.name on line 4.
type fieldLocator struct{}

func (fieldLocator) Locate(_ *checks.Resource, path []string) checks.Origin {
	switch strings.Join(path, ".") {
	case "metadata.namespace":
		return checks.Origin{File: "env/kustomization.yaml", Line: 3}
	case "metadata.name":
		return checks.Origin{File: "env/kustomization.yaml", Line: 4}
	}
	return checks.Origin{}
}

// TestEnvsIdentityChange: an object whose name or namespace changed is a
// removal and an addition; when both come from the same source document,
// both land on the line that set the new identity, not on the document.
func TestEnvsIdentityChange(t *testing.T) {
	obj := func(kind, ns, name, file string, line int) *checks.Resource {
		r := res(t, "apiVersion: v1\nkind: "+kind+"\nmetadata:\n  name: "+name+"\n  namespace: "+ns+"\n")
		r.Origin = checks.Origin{File: file, Line: line}
		return r
	}
	for _, tc := range []struct {
		name       string
		base, head []*checks.Resource
		loc        checks.Locator
		want       []string // action ID origin, in diff order
	}{
		{name: "namespace changed",
			base: []*checks.Resource{obj("Service", "a", "web", "base/svc.yaml", 1)},
			head: []*checks.Resource{obj("Service", "b", "web", "base/svc.yaml", 1)},
			loc:  fieldLocator{},
			want: []string{"removed Service/a/web env/kustomization.yaml:3", "added Service/b/web env/kustomization.yaml:3"}},
		{name: "name changed",
			base: []*checks.Resource{obj("Service", "a", "web", "base/svc.yaml", 1)},
			head: []*checks.Resource{obj("Service", "a", "x-web", "base/svc.yaml", 1)},
			loc:  fieldLocator{},
			want: []string{"removed Service/a/web env/kustomization.yaml:4", "added Service/a/x-web env/kustomization.yaml:4"}},
		{name: "source document moved in its file",
			base: []*checks.Resource{obj("Service", "a", "web", "base/svc.yaml", 1)},
			head: []*checks.Resource{obj("Service", "a", "x-web", "base/svc.yaml", 5)},
			loc:  fieldLocator{},
			want: []string{"removed Service/a/web env/kustomization.yaml:4", "added Service/a/x-web env/kustomization.yaml:4"}},
		{name: "two documents of a file are paired by line",
			base: []*checks.Resource{obj("Service", "a", "one", "base/svc.yaml", 1), obj("Service", "a", "two", "base/svc.yaml", 9)},
			head: []*checks.Resource{obj("Service", "b", "one", "base/svc.yaml", 1), obj("Service", "a", "x-two", "base/svc.yaml", 9)},
			loc:  fieldLocator{},
			want: []string{"removed Service/a/one env/kustomization.yaml:3", "removed Service/a/two env/kustomization.yaml:4",
				"added Service/a/x-two env/kustomization.yaml:4", "added Service/b/one env/kustomization.yaml:3"}},
		{name: "another document is a new object, not a rename",
			base: []*checks.Resource{obj("Service", "a", "web", "base/svc.yaml", 1)},
			head: []*checks.Resource{obj("Service", "a", "api", "base/api.yaml", 1)},
			loc:  fieldLocator{},
			want: []string{"added Service/a/api base/api.yaml:1", "removed Service/a/web base/svc.yaml:1"}},
		{name: "another kind is not a rename",
			base: []*checks.Resource{obj("Service", "a", "web", "base/web.yaml", 1)},
			head: []*checks.Resource{obj("ConfigMap", "a", "web", "base/web.yaml", 1)},
			loc:  fieldLocator{},
			want: []string{"added ConfigMap/a/web base/web.yaml:1", "removed Service/a/web base/web.yaml:1"}},
		{name: "ambiguous pairs keep their documents",
			base: []*checks.Resource{obj("Service", "a", "one", "base/svc.yaml", 1), obj("Service", "a", "two", "base/svc.yaml", 1)},
			head: []*checks.Resource{obj("Service", "b", "one", "base/svc.yaml", 1), obj("Service", "b", "two", "base/svc.yaml", 1)},
			loc:  fieldLocator{},
			want: []string{"removed Service/a/one base/svc.yaml:1", "removed Service/a/two base/svc.yaml:1",
				"added Service/b/one base/svc.yaml:1", "added Service/b/two base/svc.yaml:1"}},
		{name: "objects without a source (live) are never paired",
			base: []*checks.Resource{obj("Service", "a", "web", "", 0)},
			head: []*checks.Resource{obj("Service", "b", "web", "", 0)},
			loc:  fieldLocator{},
			want: []string{"removed Service/a/web ", "added Service/b/web "}},
		{name: "without a locator the documents stay",
			base: []*checks.Resource{obj("Service", "a", "web", "base/svc.yaml", 1)},
			head: []*checks.Resource{obj("Service", "b", "web", "base/svc.yaml", 1)},
			want: []string{"removed Service/a/web base/svc.yaml:1", "added Service/b/web base/svc.yaml:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Envs(tc.base, tc.head, Options{Locate: tc.loc})
			var got []string
			for _, c := range d.Changes {
				got = append(got, c.Action+" "+c.ID.String()+" "+c.Origin.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestUnified(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n"
	got := Unified("old", "new", a, b, 3)
	want := `--- old
+++ new
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -11,3 +11,4 @@
 k
 l
 m
+n
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if Unified("a", "b", a, a, 3) != "" {
		t.Error("equal texts gave a diff")
	}
	got = Unified("/dev/null", "new", "", "x\ny\n", 3)
	if got != "--- /dev/null\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n" {
		t.Errorf("added file:\n%s", got)
	}
}
