package gitsrc

import (
	"slices"
	"testing"

	"github.com/gate-ops/gate/checks/reporef"
	"github.com/gate-ops/gate/internal/testing/gittest"
)

func TestRemoteURLsNameThisRepository(t *testing.T) {
	r := gittest.New(t)
	r.Git("remote", "add", "upstream", "https://github.com/fluxcd/flux2-kustomize-helm-example.git")
	r.Git("remote", "add", "origin", "git@github.com:me/ops.git")
	repo, err := Open(r.Dir)
	must(t, err)
	urls, err := RemoteURLs(repo)
	must(t, err)
	want := []string{"git@github.com:me/ops.git", "https://github.com/fluxcd/flux2-kustomize-helm-example.git"}
	if !slices.Equal(urls, want) {
		t.Fatalf("RemoteURLs = %v, want %v (by remote name)", urls, want)
	}
	m := reporef.New(urls...)
	if !m.Match("ssh://git@github.com/fluxcd/flux2-kustomize-helm-example") || !m.Match("https://github.com/me/ops") {
		t.Error("a GitRepository naming a remote in another URL form is not matched")
	}
}
