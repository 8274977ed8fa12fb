package source

import (
	"crypto/sha1" //nolint:gosec // git's content address, not a security boundary
	"encoding/hex"
	"strconv"
)

// Hasher is implemented by sources that know a file's content address
// without reading it (a git tree knows its blob hashes).
type Hasher interface {
	Hash(name string) (string, bool)
}

// BlobHash is git's blob hash of content. gate uses it as the content
// address everywhere, so a file has the same hash in the work tree, the
// index and a commit.
func BlobHash(b []byte) string {
	h := sha1.New() //nolint:gosec // see import
	h.Write([]byte("blob " + strconv.Itoa(len(b)) + "\x00"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// FileHash returns the content address of a file in any source.
func FileHash(src Source, name string) (string, error) {
	if h, ok := src.(Hasher); ok {
		if c, err := Clean(name); err == nil {
			if v, ok := h.Hash(c); ok {
				return v, nil
			}
		}
	}
	if fh, ok := src.(fileHasher); ok {
		return fh.FileHash(name)
	}
	b, err := src.ReadFile(name)
	if err != nil {
		return "", err
	}
	return BlobHash(b), nil
}

// fileHasher is implemented by sources that answer FileHash themselves,
// with ReadFile's errors (a work tree with a hash index).
type fileHasher interface {
	FileHash(name string) (string, error)
}
