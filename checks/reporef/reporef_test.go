package reporef

import "testing"

func TestMatch(t *testing.T) {
	remotes := []string{"git@github.com:fluxcd/flux2-kustomize-helm-example.git"}
	tests := []struct {
		name string
		url  string
		want bool
	}{
		{"https with .git", "https://github.com/fluxcd/flux2-kustomize-helm-example.git", true},
		{"https without .git", "https://github.com/fluxcd/flux2-kustomize-helm-example", true},
		{"https trailing slash", "https://github.com/fluxcd/flux2-kustomize-helm-example/", true},
		{"ssh scheme with user and port", "ssh://git@github.com:22/fluxcd/flux2-kustomize-helm-example", true},
		{"scp-like", "git@github.com:fluxcd/flux2-kustomize-helm-example", true},
		{"host case", "https://GitHub.COM/fluxcd/flux2-kustomize-helm-example", true},
		{"github path case", "https://github.com/FluxCD/Flux2-Kustomize-Helm-Example", true},
		{"credentials in URL", "https://user:token@github.com/fluxcd/flux2-kustomize-helm-example.git", true},
		{"git+ssh", "git+ssh://git@github.com/fluxcd/flux2-kustomize-helm-example.git", true},
		{"other repo same org", "https://github.com/fluxcd/flux2", false},
		{"repo name prefix", "https://github.com/fluxcd/flux2-kustomize-helm-example-fork", false},
		{"other host", "https://gitlab.com/fluxcd/flux2-kustomize-helm-example", false},
		{"other owner", "https://github.com/someone/flux2-kustomize-helm-example", false},
		{"empty", "", false},
		{"not a url", "podinfo", false},
		{"helm repo", "https://stefanprodan.github.io/podinfo", false},
		{"oci", "oci://ghcr.io/stefanprodan/charts/podinfo", false},
	}
	m := New(remotes...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Match(tc.url); got != tc.want {
				t.Errorf("Match(%q) = %v, want %v (remotes %v)", tc.url, got, tc.want, remotes)
			}
		})
	}
}

func TestPathCaseOnSelfHostedIsKept(t *testing.T) {
	m := New("https://git.example.com/Team/ops.git")
	if !m.Match("git@GIT.example.com:Team/ops") {
		t.Error("same self-hosted repo in scp form did not match")
	}
	if m.Match("https://git.example.com/team/ops") {
		t.Error("a self-hosted server's path case was folded: it may be another repository")
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://github.com/org/repo.git", "github.com/org/repo", true},
		{"git@github.com:org/repo.git", "github.com/org/repo", true},
		{"ssh://git@git.example.com:2222/a/b/c.git", "git.example.com/a/b/c", true},
		{"https://dev.azure.com/org/proj/_git/repo", "dev.azure.com/org/proj/_git/repo", true},
		{"file:///srv/git/ops.git", "file:/srv/git/ops", true},
		{"/srv/git/ops/.git", "file:/srv/git/ops", true},
		{"/srv/git/ops/", "file:/srv/git/ops", true},
		{"https://github.com/", "", false},
		{"git@github.com:", "", false},
		{"relative/dir", "", false},
		{"   ", "", false},
	}
	for _, tc := range tests {
		got, ok := Key(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Key(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNilAndEmptyMatchNothing(t *testing.T) {
	var m *Matcher
	if m.Match("https://github.com/org/repo") || !m.Empty() {
		t.Error("a nil matcher must match nothing and be empty")
	}
	e := New("", "not a url")
	if e.Match("https://github.com/org/repo") || !e.Empty() {
		t.Error("a matcher of no usable URL must match nothing and be empty")
	}
	if got := New("git@github.com:a/b", "https://github.com/a/b.git").URLs(); len(got) != 1 {
		t.Errorf("URLs() = %v, want one URL per repository", got)
	}
}
