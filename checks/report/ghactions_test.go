package report

import (
	"bytes"
	"testing"

	"github.com/gate-ops/gate/checks"
)

func TestGitHubActions(t *testing.T) {
	rep := &checks.Report{Envs: []checks.EnvReport{{
		Env: checks.Env{Name: "prod"},
		Findings: []checks.Finding{
			{RuleID: "policy/image-tag", Severity: checks.SeverityError, Env: "prod", Message: "image uses :latest\nuse a digest", Origin: checks.Origin{File: "base/deploy.yaml", Line: 20},
				Resource: &checks.ResourceID{Kind: "Deployment", Namespace: "shop", Name: "web"}, HelpURL: "https://example.com/h"},
			{RuleID: "schema/missing-schema", Severity: checks.SeverityWarning, Env: "prod", Message: "no schema, 100% unchecked", Origin: checks.Origin{File: "a,b:c.yaml"}},
			{RuleID: "policy/replicas", Severity: checks.SeverityError, Env: "prod", Message: "one replica", Origin: checks.Origin{File: "x.yaml", Line: 3}, Waived: "migration, until 2030-01-01"},
		},
	}}}
	for _, tc := range []struct{ prefix, dir string }{{"", ""}, {"deploy/", "deploy/"}} {
		var b bytes.Buffer
		if err := GitHubActions(&b, rep, Options{URIPrefix: tc.prefix}); err != nil {
			t.Fatal(err)
		}
		want := "::warning file=" + tc.dir + "a%2Cb%3Ac.yaml,title=prod%3A schema/missing-schema::no schema, 100%25 unchecked\n" +
			"::error file=" + tc.dir + "base/deploy.yaml,line=20,title=prod%3A policy/image-tag::Deployment/shop/web: image uses :latest%0Ause a digest%0Ahttps://example.com/h\n" +
			"::notice file=" + tc.dir + "x.yaml,line=3,title=prod%3A policy/replicas::one replica (waived: migration, until 2030-01-01)\n"
		if b.String() != want {
			t.Errorf("prefix %q: got:\n%s\nwant:\n%s", tc.prefix, b.String(), want)
		}
	}
}
