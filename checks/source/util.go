package source

import (
	"io"
	"io/fs"
	"sort"
)

func readFull(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF {
		return n, nil
	}
	return n, err
}

func sortEntries(es []fs.DirEntry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
}

// Walk calls fn for every regular file under dir in lexical order. Entries
// that cannot be read (escaping symlinks, limits) are passed to fn as errors
// so callers can turn them into findings instead of skipping them.
func Walk(src Source, dir string, fn func(path string, d fs.DirEntry, err error) error) error {
	return fs.WalkDir(src, dir, fn)
}
