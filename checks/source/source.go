// Package source is the read-only file tree that gate renders: the work tree,
// a commit's tree read from the git object store, or the staged index. Base
// and head of a pull request go through the same interface, so they render
// through the same code.
//
// Every implementation confines reads to the repo root: absolute paths, ".."
// that climbs out, symlinks that point outside and the .git directory are
// refused with an *EscapeError, never followed.
package source

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Source is a read-only tree of files at one revision. Paths are
// slash-separated and relative to the repo root ("overlays/prod/kustomization.yaml").
type Source interface {
	fs.ReadFileFS
	fs.ReadDirFS
	fs.StatFS
	// Rev names the revision: "worktree", "index" or a commit SHA.
	Rev() string
}

// DefaultMaxFileSize bounds any single file gate reads (16 MiB). Larger files
// are refused with a *LimitError naming the flag that raises it.
const DefaultMaxFileSize = 16 << 20

// EscapeError is returned for a path or symlink that leaves the repo root.
type EscapeError struct {
	Path   string
	Reason string
}

func (e *EscapeError) Error() string {
	return fmt.Sprintf("%s: refused: %s", e.Path, e.Reason)
}

// LimitError is returned when a file is larger than the configured limit.
type LimitError struct {
	Path  string
	Size  int64
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: file is %d bytes, over the %d byte limit (limit max-file-size; raise it with --max-file-size or gate.yaml limits.maxFileSize)", e.Path, e.Size, e.Limit)
}

// IsEscape reports whether err is (or wraps) an *EscapeError.
func IsEscape(err error) bool {
	var e *EscapeError
	return errors.As(err, &e)
}

// Clean validates a repo-relative path and returns its canonical form. It
// refuses absolute paths, paths that climb above the root and anything
// inside .git.
func Clean(name string) (string, error) {
	if name == "" || name == "." || name == "/" {
		return ".", nil
	}
	if strings.HasPrefix(name, "/") || (len(name) > 1 && name[1] == ':') {
		return "", &EscapeError{Path: name, Reason: "absolute path outside the repo"}
	}
	if strings.ContainsRune(name, 0) {
		return "", &EscapeError{Path: name, Reason: "NUL byte in path"}
	}
	c := path.Clean(strings.ReplaceAll(name, "\\", "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", &EscapeError{Path: name, Reason: "path leaves the repo root"}
	}
	for _, part := range strings.Split(c, "/") {
		if part == ".git" {
			return "", &EscapeError{Path: name, Reason: "the .git directory is not part of the ops repo"}
		}
	}
	return c, nil
}

// Join joins a repo-relative directory and a relative reference the way
// kustomize resolves it, and validates the result.
func Join(dir, ref string) (string, error) {
	if strings.HasPrefix(ref, "/") {
		return "", &EscapeError{Path: ref, Reason: "absolute path outside the repo"}
	}
	return Clean(path.Join(dir, ref))
}
