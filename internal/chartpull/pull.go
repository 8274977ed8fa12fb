package chartpull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
)

// Bounds on what one repository can make gate download.
const (
	maxIndex   = 128 << 20
	maxArchive = 64 << 20
)

// Puller fetches charts into a cache. The zero value is not usable: use New.
type Puller struct {
	Cache *charts.Cache
	// Config is the trusted gate.yaml (the base's): charts.allow and
	// charts.mirrors.
	Config *config.Config
	// HTTP is the client for Helm HTTP repositories and OCI registries.
	HTTP   *http.Client
	Logger *slog.Logger
	// Now stamps the cached indexes.
	Now func() time.Time
}

// New returns a Puller with a bounded HTTP client.
func New(cache *charts.Cache, cfg *config.Config, log *slog.Logger) *Puller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Puller{Cache: cache, Config: cfg, HTTP: &http.Client{Timeout: 2 * time.Minute}, Logger: log, Now: time.Now}
}

// Result is what one reference came to.
type Result struct {
	Want Want
	// Version and Digest name the chart now in the cache.
	Version, Digest string
	// Fetched is false when the cache already held it.
	Fetched bool
	Err     error
}

// NotAllowedError is a repository gate.yaml's charts.allow does not list.
type NotAllowedError struct{ Repo string }

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("repository %s is not in charts.allow of the base's gate.yaml: gate pulls only from repositories the ops repo allows", e.Repo)
}

// Pull fetches every wanted chart (deduplicated) and reports each one.
// Indexes are read once per repository and chart.
func (p *Puller) Pull(ctx context.Context, wants []Want) []Result {
	type key struct{ repo, chart, version string }
	done := map[key]Result{}
	indexes := map[string]*helmIndex{}
	var out []Result
	for _, w := range wants {
		k := key{charts.NormalizeRepo(w.Ref.Repo), w.Ref.Chart, w.Ref.Version}
		if r, ok := done[k]; ok {
			r.Want = w
			out = append(out, r)
			continue
		}
		r := p.pullOne(ctx, w, indexes)
		done[k] = r
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

func (p *Puller) pullOne(ctx context.Context, w Want, indexes map[string]*helmIndex) Result {
	r := Result{Want: w}
	ref := w.Ref
	if !p.Config.ChartAllowed(ref.Repo) {
		r.Err = &NotAllowedError{Repo: ref.Repo}
		return r
	}
	var versions []string
	var fetch func(version string) ([]byte, string, error) // archive, expected digest
	if ref.IsOCI() {
		repoRef, plain, err := p.ociRepo(ref)
		if err != nil {
			r.Err = err
			return r
		}
		tags, err := p.ociTags(ctx, repoRef, plain)
		if err != nil {
			r.Err = fmt.Errorf("list tags of %s: %w", ref.Repo+"/"+ref.Chart, err)
			return r
		}
		versions = tags
		fetch = func(v string) ([]byte, string, error) { return p.ociPull(repoRef, plain, v) }
	} else {
		ix, ok := indexes[charts.NormalizeRepo(ref.Repo)]
		if !ok {
			var err error
			ix, err = p.helmIndex(ctx, ref.Repo)
			if err != nil {
				r.Err = err
				return r
			}
			indexes[charts.NormalizeRepo(ref.Repo)] = ix
		}
		entries := ix.Entries[ref.Chart]
		if len(entries) == 0 {
			r.Err = fmt.Errorf("repository %s has no chart %q", ref.Repo, ref.Chart)
			return r
		}
		for _, e := range entries {
			versions = append(versions, e.Version)
		}
		fetch = func(v string) ([]byte, string, error) {
			for _, e := range entries {
				if e.Version == v {
					return p.helmArchive(ctx, ix, e)
				}
			}
			return nil, "", fmt.Errorf("version %s vanished from the index", v)
		}
	}
	if err := p.Cache.PutIndex(ref.Repo, ref.Chart, versions, p.Now()); err != nil {
		r.Err = err
		return r
	}
	// Already cached (the index resolves it to a stored archive)?
	if c, err := p.Cache.Resolve(ref); err == nil {
		r.Version, r.Digest = c.Version, c.Digest
		return r
	}
	v, err := charts.ResolveVersion(ref.Version, versions)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", ref, err)
		return r
	}
	b, want, err := fetch(v)
	if err != nil {
		r.Err = fmt.Errorf("pull %s %s: %w", ref.Chart, v, err)
		return r
	}
	if want != "" && charts.Digest(b) != want {
		r.Err = fmt.Errorf("pull %s %s: archive digest %s, the repository says %s", ref.Chart, v, charts.Digest(b), want)
		return r
	}
	ch, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		r.Err = fmt.Errorf("pull %s %s: not a chart: %w", ref.Chart, v, err)
		return r
	}
	if ch.Name() != ref.Chart || strings.TrimPrefix(ch.Metadata.Version, "v") != strings.TrimPrefix(v, "v") {
		r.Err = fmt.Errorf("pull %s %s: the archive holds chart %s %s", ref.Chart, v, ch.Name(), ch.Metadata.Version)
		return r
	}
	d, err := p.Cache.PutArchive(ref.Repo, ref.Chart, v, b)
	if err != nil {
		r.Err = err
		return r
	}
	r.Version, r.Digest, r.Fetched = v, d, true
	p.Logger.Info("chart pulled", "repo", ref.Repo, "chart", ref.Chart, "version", v, "digest", d)
	return r
}

// helmIndex is the part of a Helm repository's index.yaml gate reads.
type helmIndex struct {
	url     *url.URL               // where index.yaml was read (after mirroring)
	Entries map[string][]helmEntry `yaml:"entries"`
}

type helmEntry struct {
	Version string   `yaml:"version"`
	Digest  string   `yaml:"digest"`
	URLs    []string `yaml:"urls"`
}

func (p *Puller) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: more than %d MiB", u, limit>>20)
	}
	return b, nil
}

func (p *Puller) helmIndex(ctx context.Context, repo string) (*helmIndex, error) {
	src := p.Config.ChartMirror(strings.TrimRight(repo, "/") + "/index.yaml")
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("repository %s: %q is not an http(s) URL", repo, src)
	}
	b, err := p.get(ctx, src, maxIndex)
	if err != nil {
		return nil, fmt.Errorf("read the index of %s: %w", repo, err)
	}
	var ix helmIndex
	if err := yaml.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("index of %s: %w", repo, err)
	}
	ix.url = u
	return &ix, nil
}

// helmArchive downloads one chart version, from a URL relative to the
// index or an absolute one (mirrored too).
func (p *Puller) helmArchive(ctx context.Context, ix *helmIndex, e helmEntry) ([]byte, string, error) {
	if len(e.URLs) == 0 {
		return nil, "", errors.New("the index lists no URL")
	}
	u, err := ix.url.Parse(e.URLs[0])
	if err != nil {
		return nil, "", err
	}
	target := p.Config.ChartMirror(u.String())
	if t, err := url.Parse(target); err != nil || (t.Scheme != "http" && t.Scheme != "https") {
		return nil, "", fmt.Errorf("chart URL %q is not http(s)", target)
	}
	b, err := p.get(ctx, target, maxArchive)
	if err != nil {
		return nil, "", err
	}
	want := ""
	if e.Digest != "" {
		want = "sha256:" + strings.TrimPrefix(e.Digest, "sha256:")
	}
	return b, want, nil
}

// ociRepo is the registry reference (host/path/chart, after mirroring) of
// an OCI chart, and whether it is spoken to in plain HTTP (loopback only).
func (p *Puller) ociRepo(ref charts.Ref) (string, bool, error) {
	m := p.Config.ChartMirror(strings.TrimRight(ref.Repo, "/") + "/" + ref.Chart)
	rest, ok := strings.CutPrefix(m, "oci://")
	if !ok {
		return "", false, fmt.Errorf("%s: the mirror %s is not an oci:// URL", ref.Repo, m)
	}
	host, _, _ := strings.Cut(rest, "/")
	return rest, isLoopback(host), nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *Puller) ociTags(ctx context.Context, repoRef string, plain bool) ([]string, error) {
	repo, err := remote.NewRepository(repoRef)
	if err != nil {
		return nil, err
	}
	repo.PlainHTTP = plain
	repo.Client = &auth.Client{Client: p.HTTP, Cache: auth.NewCache()}
	var tags []string
	err = repo.Tags(ctx, "", func(ts []string) error {
		for _, t := range ts {
			// Helm stores + as _ in tags (OCI tags have no +).
			tags = append(tags, strings.ReplaceAll(t, "_", "+"))
		}
		if len(tags) > 100000 {
			return errors.New("more than 100000 tags")
		}
		return nil
	})
	return tags, err
}

func (p *Puller) ociPull(repoRef string, plain bool, version string) ([]byte, string, error) {
	opts := []registry.ClientOption{registry.ClientOptHTTPClient(p.HTTP)}
	if plain {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, "", err
	}
	res, err := c.Pull(repoRef + ":" + strings.ReplaceAll(version, "+", "_"))
	if err != nil {
		return nil, "", err
	}
	if res.Chart == nil || len(res.Chart.Data) == 0 {
		return nil, "", errors.New("the manifest has no chart layer")
	}
	if len(res.Chart.Data) > maxArchive {
		return nil, "", fmt.Errorf("chart layer over %d MiB", maxArchive>>20)
	}
	return res.Chart.Data, res.Chart.Digest, nil
}

// PullRepo is the hook a front door calls before a run (`gate serve` with
// the base revision of a pull request): it fills the cache from the chart
// references of base, allowed and mirrored by cfg, which must be the
// base's gate.yaml too. The head is never scanned here.
func (p *Puller) PullRepo(ctx context.Context, base source.Source) ([]Result, error) {
	wants, err := Scan(base)
	if err != nil {
		return nil, err
	}
	return p.Pull(ctx, wants), nil
}
