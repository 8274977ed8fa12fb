// Package cachefile writes the files of gate's caches (renders, charts,
// verdict packs, the work tree's hash index) so that a run sharing the
// directory reads the old file or the new one, never half of one.
package cachefile

import (
	"os"
	"path/filepath"
)

// Write writes b to p through a temporary file in p's directory renamed
// into place, creating the directory (private to the user) when needed.
// A failed write leaves no temporary file behind.
func Write(p string, b []byte) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
