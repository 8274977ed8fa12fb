package render

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/source"
	"github.com/gate-ops/gate/internal/testing/chartrepo"
)

// umbrella is a chart with every kind of dependency helm knows: a
// directory subchart switched by condition, a vendored .tgz switched by
// tags, an aliased one and one whose values are imported.
func umbrella(t *testing.T) map[string]string {
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + name + "\ndata:\n  chart: {{ .Chart.Name | quote }}\n  color: {{ .Values.color | default \"none\" | quote }}\n"
	}
	tgz := chartrepo.MustTgz(t, "metrics", map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: metrics\nversion: 0.2.0\n",
		"values.yaml":       "color: green\n",
		"templates/cm.yaml": cm("metrics"),
	})
	return map[string]string{
		"chart/Chart.yaml": `apiVersion: v2
name: umbrella
version: 1.0.0
dependencies:
  - name: cache
    version: 0.1.0
    condition: cache.enabled
  - name: metrics
    version: 0.2.0
    tags: [monitoring]
  - name: cache
    alias: sessions
    version: 0.1.0
  - name: db
    version: 0.1.0
    import-values:
      - child: exported
        parent: fromdb
`,
		"chart/values.yaml":                   "cache:\n  enabled: false\ntags:\n  monitoring: false\nsessions:\n  color: blue\n",
		"chart/templates/main.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-main\ndata:\n  imported: {{ .Values.fromdb.port | quote }}\n",
		"chart/charts/cache/Chart.yaml":       "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
		"chart/charts/cache/values.yaml":      "color: red\n",
		"chart/charts/cache/templates/c.yaml": cm("cache-{{ .Chart.Name }}"),
		"chart/charts/metrics-0.2.0.tgz":      string(tgz),
		"chart/charts/db/Chart.yaml":          "apiVersion: v2\nname: db\nversion: 0.1.0\n",
		"chart/charts/db/values.yaml":         "exported:\n  port: 5432\n",
		"chart/charts/db/templates/d.yaml":    cm("db"),
		"values-on.yaml":                      "cache:\n  enabled: true\ntags:\n  monitoring: true\n",
	}
}

func renderNames(t *testing.T, src source.Source, env checks.Env) (map[string]map[string]any, []string) {
	t.Helper()
	res := New(Options{}).Render(context.Background(), src, env)
	if len(res.Findings) > 0 {
		t.Fatalf("findings: %v", res.Findings)
	}
	byName := map[string]map[string]any{}
	var names []string
	for _, r := range res.Resources {
		d, _ := r.Object["data"].(map[string]any)
		byName[r.ID.Name] = d
		names = append(names, r.ID.Name)
	}
	sort.Strings(names)
	return byName, names
}

// TestHelmDependenciesAsHelm: a subchart whose condition or tag is off
// does not render, an alias renders under its name with its own values,
// and import-values reach the parent.
func TestHelmDependenciesAsHelm(t *testing.T) {
	src := source.NewMem("head", umbrella(t))
	tests := []struct {
		name   string
		values []string
		want   []string
	}{
		{"defaults switch cache and monitoring off", nil, []string{"rel-cache-sessions", "rel-db", "rel-main"}},
		{"values switch them on", []string{"values-on.yaml"}, []string{"rel-cache-cache", "rel-cache-sessions", "rel-db", "rel-main", "rel-metrics"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byName, names := renderNames(t, src, checks.Env{Name: "rel", Path: "chart", Kind: KindHelm, ValuesFiles: tt.values})
			if strings.Join(names, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("rendered %v\nwant     %v", names, tt.want)
			}
			if c := byName["rel-cache-sessions"]["color"]; c != "blue" {
				t.Errorf("alias sessions has color %v, want its own values (blue)", c)
			}
			if p := byName["rel-main"]["imported"]; p != "5432" {
				t.Errorf("import-values: parent sees %v, want 5432", p)
			}
			if m, ok := byName["rel-metrics"]; ok && m["color"] != "green" {
				t.Errorf("vendored .tgz subchart values: %v", m)
			}
		})
	}
}

// TestHelmKubeVersionConstraint: a chart whose kubeVersion excludes the
// environment's Kubernetes fails as helm template does.
func TestHelmKubeVersionConstraint(t *testing.T) {
	src := source.NewMem("head", map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\nkubeVersion: \">=1.30.0-0\"\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	})
	res := New(Options{}).Render(context.Background(), src, checks.Env{Name: "r", Path: "chart", Kind: KindHelm, KubernetesVersion: "1.28"})
	if len(res.Findings) != 1 || !strings.Contains(res.Findings[0].Message, "requires kubeVersion >=1.30.0-0, which is incompatible with Kubernetes v1.28.0") {
		t.Fatalf("findings: %v", res.Findings)
	}
	res = New(Options{}).Render(context.Background(), src, checks.Env{Name: "r", Path: "chart", Kind: KindHelm, KubernetesVersion: "1.31"})
	if len(res.Findings) != 0 || len(res.Resources) != 1 {
		t.Fatalf("1.31: %v", res.Findings)
	}
}

// TestHelmRandomIsDeterministic: the random functions give the same text
// on every render of the same release (base and head agree), different
// text for another release, and well-formed values (a key parses, a
// uuid is a v4 uuid, lengths hold).
func TestHelmRandomIsDeterministic(t *testing.T) {
	files := map[string]string{
		"chart/Chart.yaml": "apiVersion: v2\nname: r\nversion: 1.0.0\n",
		"chart/templates/s.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: rand
data:
  a: {{ randAlphaNum 16 | quote }}
  a2: {{ randAlphaNum 16 | quote }}
  b: {{ randAlpha 8 | quote }}
  c: {{ randNumeric 6 | quote }}
  d: {{ randAscii 12 | quote }}
  u: {{ uuidv4 | quote }}
  i: {{ randInt 10 20 | quote }}
  y: {{ randBytes 9 | quote }}
  s: {{ shuffle "abcdef" | quote }}
  now: {{ now | date "2006-01-02" | quote }}
  ec: {{ genPrivateKey "ecdsa" | quote }}
  ed: {{ genPrivateKey "ed25519" | quote }}
`,
	}
	src := source.NewMem("head", files)
	one, _ := renderNames(t, src, checks.Env{Name: "rel", Path: "chart", Kind: KindHelm})
	two, _ := renderNames(t, source.NewMem("base", files), checks.Env{Name: "rel", Path: "chart", Kind: KindHelm})
	other, _ := renderNames(t, src, checks.Env{Name: "other", Path: "chart", Kind: KindHelm})
	a, b, o := one["rand"], two["rand"], other["rand"]
	for k := range a {
		if a[k] != b[k] {
			t.Errorf("%s differs between two renders: %q vs %q", k, a[k], b[k])
		}
	}
	if a["a"] == o["a"] || a["u"] == o["u"] || a["ec"] == o["ec"] {
		t.Errorf("another release got the same random values")
	}
	if a["a"] == a["a2"] {
		t.Errorf("two calls in one render gave the same string %q", a["a"])
	}
	checks := map[string]string{
		"a": `^[A-Za-z0-9]{16}$`, "b": `^[A-Za-z]{8}$`, "c": `^[0-9]{6}$`, "d": `^[ -~]{12}$`,
		"u": `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`,
		"i": `^1[0-9]$`, "y": `^[A-Za-z0-9+/]{12}$`, "now": `^2000-01-01$`,
	}
	for k, re := range checks {
		if s, _ := a[k].(string); !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("%s = %q, want %s", k, s, re)
		}
	}
	if s, _ := a["s"].(string); len(s) != 6 || strings.Count(s, "a") != 1 {
		t.Errorf("shuffle = %q", s)
	}
	for _, k := range []string{"ec", "ed"} {
		s, _ := a[k].(string)
		blk, _ := pem.Decode([]byte(s))
		if blk == nil {
			t.Fatalf("%s: no PEM block in %q", k, s)
		}
		var err error
		if blk.Type == "EC PRIVATE KEY" {
			_, err = x509.ParseECPrivateKey(blk.Bytes)
		} else {
			_, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		}
		if err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}

// TestHelmRandomRSA: genPrivateKey "rsa" gives a valid 4096-bit key, the
// same on every render.
func TestHelmRandomRSA(t *testing.T) {
	h1 := newHelmRand(context.Background(), "rel", "ns", "c", "1.0.0")
	h2 := newHelmRand(context.Background(), "rel", "ns", "c", "1.0.0")
	k1, k2 := h1.genPrivateKeyText("rsa"), h2.genPrivateKeyText("rsa")
	if k1 != k2 {
		t.Fatal("two renders gave different RSA keys")
	}
	blk, _ := pem.Decode([]byte(k1))
	if blk == nil || blk.Type != "RSA PRIVATE KEY" {
		t.Fatalf("not an RSA PEM: %.80q", k1)
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil || k.N.BitLen() != 4096 {
		t.Fatalf("key: %v, %d bits", err, k.N.BitLen())
	}
}

// TestHelmCertificatesAreDeterministic: the webhook pattern (a CA and a
// serving certificate it signs, the CA in a caBundle) renders the same
// bytes on every render, and the certificate verifies against the CA.
func TestHelmCertificatesAreDeterministic(t *testing.T) {
	files := map[string]string{
		"chart/Chart.yaml": "apiVersion: v2\nname: w\nversion: 1.0.0\n",
		"chart/templates/s.yaml": `{{- $ca := genCA "webhook-ca" 365 }}
{{- $cert := genSignedCert "webhook.ns.svc" (list "10.0.0.1") (list "webhook.ns.svc") 365 $ca }}
{{- $self := genSelfSignedCert "self" nil nil 30 }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: certs
data:
  ca: {{ $ca.Cert | quote }}
  cert: {{ $cert.Cert | quote }}
  key: {{ $cert.Key | quote }}
  self: {{ $self.Cert | quote }}
`,
	}
	one, _ := renderNames(t, source.NewMem("head", files), checks.Env{Name: "rel", Path: "chart", Kind: KindHelm})
	two, _ := renderNames(t, source.NewMem("base", files), checks.Env{Name: "rel", Path: "chart", Kind: KindHelm})
	a, b := one["certs"], two["certs"]
	for _, k := range []string{"ca", "cert", "key", "self"} {
		if a[k] != b[k] || a[k] == "" {
			t.Errorf("%s differs between renders (or is empty)", k)
		}
	}
	parse := func(s any) *x509.Certificate {
		blk, _ := pem.Decode([]byte(s.(string)))
		if blk == nil {
			t.Fatalf("no PEM in %q", s)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, cert := parse(a["ca"]), parse(a["cert"])
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "webhook.ns.svc", CurrentTime: cert.NotBefore.Add(time.Hour)}); err != nil {
		t.Fatalf("signed certificate does not verify against the CA: %v", err)
	}
	if !ca.IsCA || cert.Subject.CommonName != "webhook.ns.svc" || len(cert.IPAddresses) != 1 {
		t.Fatalf("ca %v, cert %v %v", ca.IsCA, cert.Subject, cert.IPAddresses)
	}
}
