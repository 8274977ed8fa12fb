// Package reporef answers "is this URL this repository?": a Flux
// GitRepository's spec.url or an Argo CD Application's repoURL names the ops
// repo gate is checking when it names one of the repo's git remotes or a URL
// gate.yaml lists, written in any of the forms git accepts (https, ssh,
// scp-like git@host:org/repo, with or without .git, any host case). Only
// then is the source rendered from the tree gate has; everything else is
// another repository and is reported as not rendered.
//
// The package is pure: callers hand it the URLs (front doors read remotes
// with go-git; the engine gets them as data). It never calls git or the
// network.
package reporef

import (
	"net/url"
	"path"
	"sort"
	"strings"
)

// Matcher holds the normalised keys of the URLs that are this repository.
// The zero value (and nil) matches nothing.
type Matcher struct {
	keys map[string]string // key -> the URL it came from
}

// New builds a matcher from the repo's remote URLs and gate.yaml-listed
// URLs. Empty or unparseable entries are ignored.
func New(urls ...string) *Matcher {
	m := &Matcher{keys: map[string]string{}}
	for _, u := range urls {
		if k, ok := Key(u); ok {
			if _, dup := m.keys[k]; !dup {
				m.keys[k] = u
			}
		}
	}
	return m
}

// Match reports whether u names this repository.
func (m *Matcher) Match(u string) bool {
	if m == nil || len(m.keys) == 0 {
		return false
	}
	k, ok := Key(u)
	if !ok {
		return false
	}
	_, hit := m.keys[k]
	return hit
}

// Empty reports whether the matcher knows no URL at all, so callers can say
// "this repository's URL is unknown: add it to gate.yaml" instead of
// calling every source foreign.
func (m *Matcher) Empty() bool { return m == nil || len(m.keys) == 0 }

// URLs lists the URLs the matcher was built from (one per key), sorted, for
// messages that say what this repository is known as.
func (m *Matcher) URLs() []string {
	if m == nil {
		return nil
	}
	out := make([]string, 0, len(m.keys))
	for _, u := range m.keys {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// caseInsensitivePaths are hosts whose owner/repo paths are case-insensitive,
// so "GitHub.com/Org/Repo" and "github.com/org/repo" are the same repo.
var caseInsensitivePaths = map[string]bool{"github.com": true, "gitlab.com": true, "bitbucket.org": true}

// Key normalises a git URL to "host/path": scheme, user, password, port,
// a trailing ".git" and slashes are dropped and the host is lower-cased.
// Local paths and file:// URLs key as "file:" plus the cleaned path. It
// reports false for strings that are not a git URL.
func Key(raw string) (string, bool) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", false
	}
	var host, p string
	switch {
	case strings.Contains(s, "://"):
		// git+ssh://, ssh://, https://, http://, git://, file://
		u, err := url.Parse(s)
		if err != nil {
			return "", false
		}
		if strings.EqualFold(u.Scheme, "file") {
			return fileKey(u.Path)
		}
		host, p = u.Hostname(), u.Path
	case isSCP(s):
		// [user@]host:path
		at := strings.LastIndex(s[:strings.Index(s, ":")], "@")
		rest := s[at+1:]
		i := strings.Index(rest, ":")
		host, p = rest[:i], rest[i+1:]
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "."):
		return fileKey(s)
	default:
		return "", false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	p = strings.Trim(p, "/")
	if host == "" || p == "" {
		return "", false
	}
	if caseInsensitivePaths[host] {
		p = strings.ToLower(p)
	}
	return host + "/" + p, true
}

// isSCP reports the scp-like form git accepts: no scheme, a colon before
// the first slash.
func isSCP(s string) bool {
	colon := strings.Index(s, ":")
	if colon <= 0 {
		return false
	}
	slash := strings.Index(s, "/")
	return slash < 0 || colon < slash
}

func fileKey(p string) (string, bool) {
	if p == "" {
		return "", false
	}
	p = path.Clean(p)
	p = strings.TrimSuffix(p, "/.git")
	p = strings.TrimSuffix(p, ".git")
	return "file:" + p, true
}
