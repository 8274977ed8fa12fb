package repocache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gate-ops/gate/internal/gitsrc"
	"github.com/gate-ops/gate/internal/repocache"
	"github.com/gate-ops/gate/internal/testing/gitserver"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func commitFile(t *testing.T, work, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", name)
	git(t, work, "commit", "-q", "-m", name)
	return git(t, work, "rev-parse", "HEAD")
}

func TestFetchIsIncrementalAndAuthenticated(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "o", "r.git")
	work := t.TempDir()
	git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	git(t, work, "init", "-q", "-b", "main")
	// A sizeable first commit, so the second fetch is visibly smaller.
	var sb strings.Builder
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, "key%d: %x\n", i, rnd.Uint64())
	}
	big := sb.String()
	commitFile(t, work, "big.yaml", big)
	main := commitFile(t, work, "a.yaml", "a: 1\n")
	git(t, work, "push", "-q", bare, "main")
	git(t, work, "checkout", "-q", "-b", "pr")
	head := commitFile(t, work, "a.yaml", "a: 2\n")
	git(t, work, "push", "-q", bare, "HEAD:refs/pull/1/head")

	srv, err := gitserver.New(root, func(repo, user, pass string) bool { return user == "x-access-token" && pass == "ghs_good" })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cache, err := repocache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := repocache.Fetch{Repo: "o/r", URL: hs.URL + "/o/r.git", Token: "ghs_good", Refs: []string{"refs/heads/main", "refs/pull/1/head"}, Want: []string{head}}

	// A wrong token fails and the error does not echo it.
	bad := f
	bad.Token = "ghs_wrong_token_value"
	if _, err := cache.Fetch(ctx, bad); err == nil || strings.Contains(err.Error(), "ghs_wrong_token_value") {
		t.Fatalf("fetch with a wrong token: %v", err)
	}

	res, err := cache.Fetch(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Fetched || res.Tips["refs/heads/main"] != main || res.Tips["refs/pull/1/head"] != head {
		t.Fatalf("first fetch: %+v", res)
	}
	first := srv.UploadPackBytes()

	// Everything wanted is cached: no network at all.
	n := len(srv.Requests())
	if res, err = cache.Fetch(ctx, f); err != nil || res.Fetched {
		t.Fatalf("second fetch of the same head: %+v %v", res, err)
	}
	if len(srv.Requests()) != n {
		t.Errorf("a cached head still talked to the server")
	}

	// A new push fetches only the new objects.
	head2 := commitFile(t, work, "a.yaml", "a: 3\n")
	git(t, work, "push", "-q", "-f", bare, "HEAD:refs/pull/1/head")
	f.Want = []string{head2}
	if res, err = cache.Fetch(ctx, f); err != nil || !res.Fetched || res.Tips["refs/pull/1/head"] != head2 {
		t.Fatalf("fetch of a new push: %+v %v", res, err)
	}
	second := srv.UploadPackBytes() - first
	if second*10 > first {
		t.Errorf("the incremental fetch moved %d bytes, the first %d: objects were not reused", second, first)
	}
	t.Logf("first fetch %d bytes, incremental %d bytes", first, second)

	// Revisions are read from the object store.
	repo, err := cache.Open("o/r")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := gitsrc.FromRev(repo, head2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := tree.ReadFile("a.yaml"); err != nil || string(b) != "a: 3\n" {
		t.Fatalf("a.yaml at head2: %q %v", b, err)
	}

	// A head the remote does not have is an error naming the refs.
	f.Want = []string{strings.Repeat("0f", 20)}
	if _, err := cache.Fetch(ctx, f); err == nil || !strings.Contains(err.Error(), "refs/pull/1/head") {
		t.Fatalf("missing head: %v", err)
	}
	// Names that could leave the cache directory are refused.
	for _, name := range []string{"../x/y", "o/r/../../z", "noslash"} {
		if _, err := cache.Fetch(ctx, repocache.Fetch{Repo: name, URL: hs.URL}); err == nil {
			t.Errorf("repo name %q accepted", name)
		}
	}
}

// TestFetchErrorsSayWhatToDo: a failing git host is transient, refused
// credentials ask for a new token, a missing repository is neither; the
// token never shows in the error.
func TestFetchErrorsSayWhatToDo(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "o", "r.git")
	work := t.TempDir()
	git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	git(t, work, "init", "-q", "-b", "main")
	main := commitFile(t, work, "a.yaml", "a: 1\n")
	git(t, work, "push", "-q", bare, "main")
	srv, err := gitserver.New(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	const token = "ghs_0123456789abcdefghijklmnopqrstuvwxyz"
	cases := []struct {
		status            int
		transient, reauth bool
	}{
		{502, true, false},
		{503, true, false},
		{401, false, true},
		{404, false, false},
		{403, false, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c, err := repocache.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			srv.SetFault(func(int) int { return tc.status })
			_, err = c.Fetch(context.Background(), repocache.Fetch{Repo: "o/r", URL: hs.URL + "/o/r.git", Token: token, Refs: []string{"refs/heads/main"}, Want: []string{main}})
			var fe *repocache.FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a FetchError", err, err)
			}
			if fe.Transient != tc.transient || fe.Unauthenticated != tc.reauth {
				t.Errorf("%d: transient %v, unauthenticated %v; want %v, %v (%v)", tc.status, fe.Transient, fe.Unauthenticated, tc.transient, tc.reauth, err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
	srv.SetFault(nil)
	c, _ := repocache.New(t.TempDir())
	if _, err := c.Fetch(context.Background(), repocache.Fetch{Repo: "o/r", URL: hs.URL + "/o/r.git", Token: token, Refs: []string{"refs/heads/main"}, Want: []string{main}}); err != nil {
		t.Errorf("without faults: %v", err)
	}
}
