package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/gate-ops/gate/checks/source"
)

// tarGz builds an OPA bundle archive the way `opa build` lays one out.
func tarGz(t testing.TB, files [][2]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

const bundlePolicy = `package main

import data.org.registries

deny contains msg if {
	some c in input.spec.template.spec.containers
	not allowed(c.image)
	msg := sprintf("image %s is not from an approved registry", [c.image])
}

allowed(image) if {
	some r in registries
	startswith(image, r)
}
`

const bundleTests = `package main_test

import data.main

test_quay_denied if {
	count(main.deny) == 1 with input as {"spec": {"template": {"spec": {"containers": [{"image": "quay.io/x:1"}]}}}}
}

test_ghcr_allowed if {
	count(main.deny) == 0 with input as {"spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/acme/x:1"}]}}}}
}
`

// TestPolicyBundle: an OPA bundle archive named in gate.yaml is evaluated
// like a policy directory: its modules, its data under the directory they
// sit in, its manifest's Rego version; its tests run in gate policy test.
func TestPolicyBundle(t *testing.T) {
	bundle := tarGz(t, [][2]string{
		{".manifest", `{"revision": "42", "roots": ["main", "org"]}`},
		{"/main/policy.rego", bundlePolicy},
		{"/main/policy_test.rego", bundleTests},
		{"/org/data.json", `{"registries": ["ghcr.io/acme/"]}`},
	})
	src := repo(map[string]string{"policies/org.tar.gz": bundle}, twoEnvs+"policies:\n  builtin: false\n  paths: [policies/org.tar.gz]\n")
	got, load := findingsByEnv(t, src, testOpts())
	if len(load) != 0 {
		t.Fatalf("load: %s", dump(load))
	}
	if len(got["prod"]) != 0 {
		t.Errorf("prod's ghcr.io/acme image flagged: %s", dump(got["prod"]))
	}
	// dev runs ghcr.io/acme/web:latest: allowed by the registry rule too.
	if len(got["dev"]) != 0 {
		t.Errorf("dev: %s", dump(got["dev"]))
	}
	src = repo(map[string]string{"policies/org.tar.gz": bundle, "envs/dev/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n      containers:\n        - name: j\n          image: quay.io/other/j:1\n"},
		twoEnvs+"policies:\n  builtin: false\n  paths: [policies/org.tar.gz]\n")
	got, _ = findingsByEnv(t, src, testOpts())
	d := byRule(got["dev"], "main.deny")
	if len(d) != 1 || d[0].Message != "image quay.io/other/j:1 is not from an approved registry" || d[0].Origin.String() != "envs/dev/job.yaml:1" {
		t.Fatalf("dev: %s", dump(got["dev"]))
	}

	rep := RunTests(context.Background(), []TestDir{{Src: src, Dir: "policies/org.tar.gz"}}, TestOptions{})
	if len(rep.Problems) != 0 || rep.Rego == nil || len(rep.Rego.Results) != 2 || rep.Failed() != 0 {
		t.Fatalf("bundle tests: %+v %s", rep.Rego, dump(rep.Problems))
	}
	if f := rep.Rego.Results[0].File; f != "policies/org.tar.gz/main/policy_test.rego" {
		t.Errorf("test file shown as %q", f)
	}
}

func TestPolicyBundleV0Manifest(t *testing.T) {
	v0 := "package main\n\ndeny[msg] {\n  input.kind == \"Deployment\"\n  input.spec.replicas < 2\n  msg := \"one replica\"\n}\n"
	bundle := tarGz(t, [][2]string{{".manifest", `{"rego_version": 0}`}, {"main/old.rego", v0}})
	src := repo(map[string]string{"org.tgz": bundle}, twoEnvs+"policies:\n  builtin: false\n  paths: [org.tgz]\n")
	got, load := findingsByEnv(t, src, testOpts())
	if len(load) != 0 || len(byRule(got["dev"], "main.deny")) != 1 || len(got["prod"]) != 0 {
		t.Fatalf("load %s\ndev %s\nprod %s", dump(load), dump(got["dev"]), dump(got["prod"]))
	}
}

// TestPolicyBundleProblems: a bundle gate cannot use is reported on the
// bundle, never skipped.
func TestPolicyBundleProblems(t *testing.T) {
	tests := []struct {
		name, bundle, want, file string
	}{
		{"not gzip", "plain text", "not a gzipped tar archive", "org.tar.gz"},
		{"corrupt tar", func() string {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write([]byte(strings.Repeat("x", 700)))
			_ = zw.Close()
			return b.String()
		}(), "policy bundle is corrupt", "org.tar.gz"},
		{"escaping entry", tarGz(t, [][2]string{{"../evil.rego", "package main\n"}}), `entry "../evil.rego" leaves the bundle`, "org.tar.gz"},
		{"wasm", tarGz(t, [][2]string{{"/policy.wasm", "\x00asm"}}), "Wasm policies are not supported", "org.tar.gz/policy.wasm"},
		{"refused builtin", tarGz(t, [][2]string{{"main/x.rego", "package main\n\ndeny contains msg if {\n\tmsg := http.send({\"url\": \"https://x\", \"method\": \"GET\"}).body\n}\n"}}), "http.send is not allowed", "org.tar.gz/main/x.rego"},
		{"data conflict", tarGz(t, [][2]string{{"data.json", `{"gate": {}}`}}), "may not define data.gate", "org.tar.gz/data.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source.NewMem("worktree", map[string]string{
				"gate.yaml":   "environments:\n  - name: dev\n    path: env\npolicies:\n  builtin: false\n  paths: [org.tar.gz]\n",
				"env/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
				"org.tar.gz":  tc.bundle,
			})
			_, load := Load(context.Background(), src, mustConfig(t, src), testOpts())
			found := false
			for _, f := range load {
				if f.RuleID == RuleLoad && f.Origin.File == tc.file && strings.Contains(f.Message, tc.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want a load finding on %s containing %q: %s", tc.file, tc.want, dump(load))
			}
		})
	}
}
