// Package charts resolves Helm charts that live outside the ops repo (a Helm
// HTTP repository or an OCI registry) from gate's content-addressed chart
// cache. It never touches the network: `gate charts pull` fills the cache
// from the base's chart references, and a chart that is not there is a
// typed error (NotCachedError) that renderers turn into the finding
// render/chart-not-cached, whose message is the command that fixes it.
//
// The cache lives under <cache-dir>/charts:
//
//	blobs/sha256/<hex>.tgz            chart archives, named by their sha256
//	index/<repo-hash>/<chart>.json    the versions the repository offered when
//	                                  it was last pulled, with their digests
//
// A chart is identified by (repository URL, chart name, version, digest).
// The repository URL is the one the ops repo names (never a mirror), so a
// team behind a chart proxy and one without it share cache keys.
package charts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/gate-ops/gate/checks/cachefile"
)

// RuleNotCached is the rule id of the finding for a chart that is not in
// the cache.
const RuleNotCached = "render/chart-not-cached"

// indexFormat versions the index files.
const indexFormat = "gate-chart-index/1"

// maxArchive bounds one chart archive read from the cache.
const maxArchive = 64 << 20

// Ref names a chart outside the repo, as a manifest asks for it.
type Ref struct {
	// Repo is the repository URL: https://charts.example.com/stable for a
	// Helm HTTP repository, oci://registry.example.com/charts for an OCI
	// registry (the chart name is not part of it; see SplitOCI).
	Repo string `json:"repo"`
	// Chart is the chart name.
	Chart string `json:"chart"`
	// Version is an exact version, a semver range ("1.x", ">=1.8.0-rc.0",
	// "~6.5") or "" for the latest stable version.
	Version string `json:"version,omitempty"`
}

// IsOCI reports whether the chart comes from an OCI registry.
func (r Ref) IsOCI() bool { return strings.HasPrefix(strings.ToLower(r.Repo), "oci://") }

// String is "repo/chart@version".
func (r Ref) String() string {
	v := r.Version
	if v == "" {
		v = "latest"
	}
	return strings.TrimRight(r.Repo, "/") + "/" + r.Chart + "@" + v
}

// SplitOCI splits an OCI chart URL (oci://ghcr.io/org/charts/podinfo, as a
// Flux OCIRepository or a Helm dependency names it) into the repository
// and the chart name.
func SplitOCI(url string) (repo, chart string) {
	url = strings.TrimRight(url, "/")
	i := strings.LastIndex(url, "/")
	if i < 0 || i < len("oci://") {
		return url, ""
	}
	return url[:i], url[i+1:]
}

// NormalizeRepo is the form of a repository URL that keys the cache:
// scheme and host lower-cased, no trailing slash, an oci:// URL without a
// tag. Argo CD names OCI registries without a scheme; callers add oci://.
func NormalizeRepo(u string) string {
	u = strings.TrimSpace(u)
	u = strings.TrimRight(u, "/")
	if i := strings.Index(u, "://"); i > 0 {
		rest := u[i+3:]
		host, p, _ := strings.Cut(rest, "/")
		u = strings.ToLower(u[:i]) + "://" + strings.ToLower(host)
		if p != "" {
			u += "/" + p
		}
	}
	return u
}

// Version is one version a repository offered.
type Version struct {
	Version string `json:"version"`
	// Digest is "sha256:<hex>" of the chart archive; "" when the pull did
	// not fetch this version (an index lists more than anyone uses).
	Digest string `json:"digest,omitempty"`
}

// Index is what the cache knows about one chart of one repository.
type Index struct {
	Format string `json:"format"`
	Repo   string `json:"repo"`
	Chart  string `json:"chart"`
	// Fetched is when the repository was read (RFC 3339).
	Fetched  string    `json:"fetched,omitempty"`
	Versions []Version `json:"versions"`
}

// Chart is a resolved chart.
type Chart struct {
	Ref Ref
	// Version is the exact version the reference resolved to.
	Version string
	// Digest is "sha256:<hex>" of Archive.
	Digest string
	// Archive is the chart's .tgz.
	Archive []byte
}

// Load returns a freshly loaded chart for Helm's engine. Each call returns
// a new value: rendering mutates a chart (disabled subcharts are removed,
// values replaced), so one load must never serve two renders.
func (c *Chart) Load() (*chartv2.Chart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(c.Archive))
	if err != nil {
		return nil, fmt.Errorf("load chart %s %s (%s): %w", c.Ref.Chart, c.Version, c.Digest, err)
	}
	return ch, nil
}

// NotCachedError says a chart is not in the cache (or the cache does not
// know the version asked for). Its message ends with the command that
// fills the cache.
type NotCachedError struct {
	Ref Ref
	// Version is the exact version the reference resolved to, when the
	// cached index resolved it.
	Version string
	// Reason says what is missing.
	Reason string
	// CacheDir is the --cache-dir the command must name ("" for the default).
	CacheDir string
}

func (e *NotCachedError) Error() string {
	v := e.Ref.Version
	if v == "" {
		v = "latest"
	}
	if e.Version != "" && e.Version != e.Ref.Version {
		v += " (resolved to " + e.Version + ")"
	}
	return fmt.Sprintf("chart %q version %s from %s is not in the chart cache (%s): gate never pulls charts while checking; run `%s`",
		e.Ref.Chart, v, e.Ref.Repo, e.Reason, e.Command())
}

// Command is the shell command that pulls the chart into the cache.
func (e *NotCachedError) Command() string {
	args := []string{"gate", "charts", "pull"}
	if e.CacheDir != "" {
		args = append(args, "--cache-dir", shellQuote(e.CacheDir))
	}
	args = append(args, "--url", shellQuote(e.Ref.Repo), "--chart", shellQuote(e.Ref.Chart))
	if e.Ref.Version != "" {
		args = append(args, "--version", shellQuote(e.Ref.Version))
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell: the strings come from the
// manifests of a pull request and are pasted into terminals.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// IsNotCached reports whether err is (or wraps) a NotCachedError.
func IsNotCached(err error) bool {
	var nc *NotCachedError
	return errors.As(err, &nc)
}

// Cache is the chart cache. Resolve only reads it; the Put methods are
// for the puller. It is safe for concurrent use.
type Cache struct {
	root string // <cache-dir>
	dir  string // <cache-dir>/charts
}

// Open returns the chart cache under cacheDir (the --cache-dir of gate; the
// charts live in its charts/ subdirectory). Nothing is created until a Put.
func Open(cacheDir string) *Cache {
	return &Cache{root: cacheDir, dir: filepath.Join(cacheDir, "charts")}
}

// Dir is the --cache-dir the cache was opened with.
func (c *Cache) Dir() string { return c.root }

func (c *Cache) indexPath(repo, chart string) string {
	h := sha256.Sum256([]byte(NormalizeRepo(repo)))
	return filepath.Join(c.dir, "index", hex.EncodeToString(h[:12]), safeName(chart)+".json")
}

func (c *Cache) blobPath(digest string) (string, error) {
	hexd, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexd) != 64 || strings.Trim(hexd, "0123456789abcdef") != "" {
		return "", fmt.Errorf("bad chart digest %q", digest)
	}
	return filepath.Join(c.dir, "blobs", "sha256", hexd+".tgz"), nil
}

// safeName keeps a chart name usable as a file name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "%%%02x", r)
		}
	}
	if s == "" || s == "." || s == ".." {
		return "%" + b.String()
	}
	return b.String()
}

// Index reads the cached index of one chart; ok is false when there is none.
func (c *Cache) Index(repo, chart string) (*Index, bool, error) {
	b, err := os.ReadFile(c.indexPath(repo, chart))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read chart index: %w", err)
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil || ix.Format != indexFormat {
		return nil, false, nil
	}
	return &ix, true, nil
}

// ResolveVersion picks the version a reference asks for among those
// offered: the exact version, or the highest one in the range (pre-releases
// only when the range names one, as Helm and Flux do). "" and "*" mean the
// latest stable version.
func ResolveVersion(want string, offered []string) (string, error) {
	want = strings.TrimSpace(want)
	for _, o := range offered {
		if o == want || strings.TrimPrefix(o, "v") == strings.TrimPrefix(want, "v") && want != "" {
			return o, nil
		}
	}
	cs := want
	if cs == "" {
		cs = "*"
	}
	con, err := semver.NewConstraint(cs)
	if err != nil {
		return "", fmt.Errorf("version %q is neither a version nor a semver range: %v", want, err)
	}
	var best *semver.Version
	bestRaw := ""
	for _, o := range offered {
		v, err := semver.NewVersion(o)
		if err != nil {
			continue
		}
		if con.Check(v) && (best == nil || v.GreaterThan(best)) {
			best, bestRaw = v, o
		}
	}
	if best == nil {
		return "", fmt.Errorf("no version matches %q", cs)
	}
	return bestRaw, nil
}

// Resolve finds the chart a reference asks for in the cache. A reference
// the cache cannot serve is a *NotCachedError; a corrupt entry is one too
// (pulling again mends it).
func (c *Cache) Resolve(ref Ref) (*Chart, error) {
	nc := func(version, reason string) error {
		return &NotCachedError{Ref: ref, Version: version, Reason: reason, CacheDir: c.root}
	}
	if ref.Repo == "" || ref.Chart == "" {
		return nil, fmt.Errorf("chart reference needs a repository and a chart name (repo %q, chart %q)", ref.Repo, ref.Chart)
	}
	ix, ok, err := c.Index(ref.Repo, ref.Chart)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nc("", "the repository was never pulled for this chart")
	}
	offered := make([]string, len(ix.Versions))
	for i, v := range ix.Versions {
		offered[i] = v.Version
	}
	ver, err := ResolveVersion(ref.Version, offered)
	if err != nil {
		return nil, nc("", fmt.Sprintf("the repository offered %d versions when pulled %s and %v", len(offered), ix.Fetched, err))
	}
	var digest string
	for _, v := range ix.Versions {
		if v.Version == ver {
			digest = v.Digest
		}
	}
	if digest == "" {
		return nil, nc(ver, "version "+ver+" was not pulled")
	}
	p, err := c.blobPath(digest)
	if err != nil {
		return nil, nc(ver, err.Error())
	}
	b, err := readBounded(p)
	if err != nil {
		return nil, nc(ver, "archive "+digest+" is missing")
	}
	if d := Digest(b); d != digest {
		return nil, nc(ver, "archive "+digest+" is corrupt")
	}
	return &Chart{Ref: ref, Version: ver, Digest: digest, Archive: b}, nil
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxArchive {
		return nil, fmt.Errorf("chart archive %s is %d bytes, over %d", p, st.Size(), maxArchive)
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	if err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

// Digest is "sha256:<hex>" of b.
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// PutIndex records the versions a repository offers for a chart, keeping
// the digests of versions already pulled.
func (c *Cache) PutIndex(repo, chart string, versions []string, fetched time.Time) error {
	old, _, err := c.Index(repo, chart)
	if err != nil {
		return err
	}
	known := map[string]string{}
	if old != nil {
		for _, v := range old.Versions {
			known[v.Version] = v.Digest
		}
	}
	ix := Index{Format: indexFormat, Repo: NormalizeRepo(repo), Chart: chart, Fetched: fetched.UTC().Format(time.RFC3339)}
	seen := map[string]bool{}
	for _, v := range versions {
		if seen[v] {
			continue
		}
		seen[v] = true
		ix.Versions = append(ix.Versions, Version{Version: v, Digest: known[v]})
	}
	sortVersions(ix.Versions)
	return c.writeIndex(&ix)
}

// PutArchive stores a pulled chart archive and records its digest for the
// version in the chart's index (adding the version if the index lacks it).
// It returns the digest.
func (c *Cache) PutArchive(repo, chart, version string, archive []byte) (string, error) {
	digest := Digest(archive)
	p, err := c.blobPath(digest)
	if err != nil {
		return "", err
	}
	if err := cachefile.Write(p, archive); err != nil {
		return "", fmt.Errorf("store chart %s %s: %w", chart, version, err)
	}
	ix, ok, err := c.Index(repo, chart)
	if err != nil {
		return "", err
	}
	if !ok {
		ix = &Index{Format: indexFormat, Repo: NormalizeRepo(repo), Chart: chart}
	}
	found := false
	for i := range ix.Versions {
		if ix.Versions[i].Version == version {
			ix.Versions[i].Digest = digest
			found = true
		}
	}
	if !found {
		ix.Versions = append(ix.Versions, Version{Version: version, Digest: digest})
		sortVersions(ix.Versions)
	}
	return digest, c.writeIndex(ix)
}

func (c *Cache) writeIndex(ix *Index) error {
	b, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return err
	}
	if err := cachefile.Write(c.indexPath(ix.Repo, ix.Chart), b); err != nil {
		return fmt.Errorf("store chart index %s %s: %w", ix.Repo, ix.Chart, err)
	}
	return nil
}

// sortVersions orders versions newest first (semver), then by text.
func sortVersions(vs []Version) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, ea := semver.NewVersion(vs[i].Version)
		b, eb := semver.NewVersion(vs[j].Version)
		if ea == nil && eb == nil && !a.Equal(b) {
			return a.GreaterThan(b)
		}
		if (ea == nil) != (eb == nil) {
			return ea == nil
		}
		return vs[i].Version < vs[j].Version
	})
}
