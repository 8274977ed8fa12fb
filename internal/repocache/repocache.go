// Package repocache keeps one bare git object store per repository on
// disk, so the App fetches a pull request's revisions over https with the
// installation token and a later push only transfers what is new. Revisions
// are read from the object store (internal/gitsrc), never checked out: the
// pull request's files are data, nothing in them runs.
package repocache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// readCacheSize bounds the decoded-object cache of every reader, so many
// concurrent runs keep memory bounded.
const readCacheSize = 8 * cache.MiByte

// Cache is a directory of bare repositories, one per owner/name.
type Cache struct {
	dir string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a cache rooted at dir (created if missing).
func New(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create repo cache %s: %w", dir, err)
	}
	return &Cache{dir: dir, locks: map[string]*sync.Mutex{}}, nil
}

// Fetch says what a run needs in the object store.
type Fetch struct {
	// Repo is "owner/name", the cache key.
	Repo string
	// URL is the https clone URL.
	URL string
	// Token is the installation token; sent as basic auth user
	// x-access-token, the way GitHub wants it, and never logged.
	Token string
	// Refs are the remote refs to fetch ("refs/heads/main",
	// "refs/pull/7/head"); each lands under refs/remotes/origin/.
	Refs []string
	// Want are commit SHAs that must be present afterwards. When they all
	// are already, nothing is fetched, unless Always is set.
	Want []string
	// Always fetches the refs even when every wanted commit is present:
	// a ref that must be current (the base branch tip) may have moved.
	Always bool
}

// Result is what Fetch did.
type Result struct {
	// Fetched is false when every wanted commit was already in the cache.
	Fetched bool
	// Tips maps each fetched ref to the commit it points at.
	Tips map[string]string
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$`)

func (c *Cache) path(repo string) (string, error) {
	if !safeName.MatchString(repo) || strings.Contains(repo, "..") {
		return "", fmt.Errorf("repository name %q is not owner/name", repo)
	}
	return filepath.Join(c.dir, filepath.FromSlash(repo)+".git"), nil
}

func (c *Cache) lock(repo string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.locks[repo]
	if !ok {
		l = &sync.Mutex{}
		c.locks[repo] = l
	}
	return l
}

// Fetch brings the wanted refs and commits into the repo's object store.
// Fetches of one repo are serialised; different repos fetch in parallel.
func (c *Cache) Fetch(ctx context.Context, f Fetch) (*Result, error) {
	dir, err := c.path(f.Repo)
	if err != nil {
		return nil, err
	}
	l := c.lock(f.Repo)
	l.Lock()
	defer l.Unlock()

	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open cached repo %s: %w", f.Repo, err)
	}
	res := &Result{Tips: map[string]string{}}
	if len(f.Want) > 0 && !f.Always && hasAll(repo, f.Want) {
		for _, ref := range f.Refs {
			if r, err := repo.Reference(localRef(ref), true); err == nil {
				res.Tips[ref] = r.Hash().String()
			}
		}
		return res, nil
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("clone URL of %s must be http(s), got %q", f.Repo, redact(f.URL))
	}
	specs := make([]gitconfig.RefSpec, 0, len(f.Refs))
	for _, ref := range f.Refs {
		if !strings.HasPrefix(ref, "refs/") || strings.ContainsAny(ref, ":*^~ ") {
			return nil, fmt.Errorf("fetch %s: bad ref %q", f.Repo, ref)
		}
		specs = append(specs, gitconfig.RefSpec("+"+ref+":"+localRef(ref).String()))
	}
	// An anonymous remote: the URL is not written to the repo's config.
	remote := git.NewRemote(repo.Storer, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{f.URL}})
	opts := &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   specs,
		Tags:       git.NoTags,
		Force:      true,
	}
	if f.Token != "" {
		opts.Auth = &githttp.BasicAuth{Username: "x-access-token", Password: f.Token}
	}
	if err := remote.FetchContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, classify(ctx, fmt.Sprintf("fetch %s from %s: %s", f.Repo, redact(f.URL), scrub(err.Error(), f.Token)), err)
	}
	res.Fetched = true
	for _, ref := range f.Refs {
		r, err := repo.Reference(localRef(ref), true)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: ref %s not found on the remote", f.Repo, ref)
		}
		res.Tips[ref] = r.Hash().String()
	}
	for _, w := range f.Want {
		if _, err := repo.CommitObject(plumbing.NewHash(w)); err != nil {
			return nil, fmt.Errorf("fetch %s: commit %s is not on the fetched refs (%s); it may have been force-pushed away", f.Repo, w, strings.Join(f.Refs, ", "))
		}
	}
	return res, nil
}

// FetchError is a failed fetch, with what the caller can do about it.
// Its text never holds the token.
type FetchError struct {
	msg string
	// Transient is set when the server or the network failed (a 5xx, a
	// reset connection), not the request: trying again may work.
	Transient bool
	// Unauthenticated is set when the server refused the credentials (an
	// expired or revoked token): a new token may work.
	Unauthenticated bool
}

func (e *FetchError) Error() string { return e.msg }

func classify(ctx context.Context, msg string, err error) error {
	fe := &FetchError{msg: msg}
	switch {
	case ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The run ended; not the server's fault.
	case errors.Is(err, transport.ErrAuthenticationRequired):
		fe.Unauthenticated = true
	case errors.Is(err, transport.ErrRepositoryNotFound), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.Is(err, git.NoMatchingRefSpecError{}):
		// The server answered: the ref or repository is not there.
	default:
		fe.Transient = true
	}
	return fe
}

// Open returns a reader on the repo's object store with its own small
// object cache. Readers are independent, so concurrent runs (and base and
// head of one run) do not share go-git's non-thread-safe state.
func (c *Cache) Open(repo string) (*git.Repository, error) {
	dir, err := c.path(repo)
	if err != nil {
		return nil, err
	}
	st := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(readCacheSize))
	r, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open cached repo %s: %w", repo, err)
	}
	return r, nil
}

func hasAll(repo *git.Repository, shas []string) bool {
	for _, s := range shas {
		if _, err := repo.CommitObject(plumbing.NewHash(s)); err != nil {
			return false
		}
	}
	return true
}

// localRef maps a remote ref to where the cache keeps it.
func localRef(remote string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/remotes/origin/" + strings.TrimPrefix(remote, "refs/"))
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[token]")
}
