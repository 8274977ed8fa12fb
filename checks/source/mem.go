package source

import (
	"bytes"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Mem is an in-memory Source, used by tests and to overlay generated files.
type Mem struct {
	files map[string][]byte
	rev   string
}

// NewMem builds a Source from path -> content.
func NewMem(rev string, files map[string]string) *Mem {
	m := &Mem{files: map[string][]byte{}, rev: rev}
	for k, v := range files {
		m.files[path.Clean(k)] = []byte(v)
	}
	return m
}

// Rev implements Source.
func (m *Mem) Rev() string { return m.rev }

func (m *Mem) isDir(name string) bool {
	if name == "." {
		return true
	}
	prefix := name + "/"
	for k := range m.files {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// ReadFile implements fs.ReadFileFS.
func (m *Mem) ReadFile(name string) ([]byte, error) {
	c, err := Clean(name)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	b, ok := m.files[c]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), b...), nil
}

// Stat implements fs.StatFS.
func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	c, err := Clean(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if b, ok := m.files[c]; ok {
		return fileInfo{name: path.Base(c), size: int64(len(b))}, nil
	}
	if m.isDir(c) {
		return fileInfo{name: path.Base(c), dir: true}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// ReadDir implements fs.ReadDirFS.
func (m *Mem) ReadDir(name string) ([]fs.DirEntry, error) {
	c, err := Clean(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if !m.isDir(c) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	prefix := c + "/"
	if c == "." {
		prefix = ""
	}
	seen := map[string]fs.DirEntry{}
	for k, b := range m.files {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seen[rest[:i]] = fs.FileInfoToDirEntry(fileInfo{name: rest[:i], dir: true})
		} else {
			seen[rest] = fs.FileInfoToDirEntry(fileInfo{name: rest, size: int64(len(b))})
		}
	}
	out := make([]fs.DirEntry, 0, len(seen))
	for _, e := range seen {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Open implements fs.FS.
func (m *Mem) Open(name string) (fs.File, error) {
	fi, err := m.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		ents, _ := m.ReadDir(name)
		return &dirFile{fi: fi, ents: ents}, nil
	}
	b, _ := m.ReadFile(name)
	return &memFile{fi: fi, r: bytes.NewReader(b)}, nil
}

type fileInfo struct {
	name string
	size int64
	dir  bool
	mode fs.FileMode
}

func (f fileInfo) Name() string { return f.name }
func (f fileInfo) Size() int64  { return f.size }
func (f fileInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	if f.mode != 0 {
		return f.mode
	}
	return 0o644
}
func (f fileInfo) ModTime() time.Time { return time.Time{} }
func (f fileInfo) IsDir() bool        { return f.dir }
func (f fileInfo) Sys() any           { return nil }

// NewFileInfo describes a regular file or directory for Source implementations
// outside this package.
func NewFileInfo(name string, size int64, dir bool) fs.FileInfo {
	return fileInfo{name: name, size: size, dir: dir}
}

type memFile struct {
	fi fs.FileInfo
	r  *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (f *memFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *memFile) Close() error               { return nil }

type dirFile struct {
	fi   fs.FileInfo
	ents []fs.DirEntry
	pos  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dirFile) Read([]byte) (int, error)   { return 0, io.EOF }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		rest := d.ents[d.pos:]
		d.pos = len(d.ents)
		return rest, nil
	}
	if d.pos >= len(d.ents) {
		return nil, io.EOF
	}
	end := min(d.pos+n, len(d.ents))
	rest := d.ents[d.pos:end]
	d.pos = end
	return rest, nil
}

// NewFile wraps bytes as an fs.File for Source implementations outside this package.
func NewFile(name string, b []byte) fs.File {
	return &memFile{fi: fileInfo{name: path.Base(name), size: int64(len(b))}, r: bytes.NewReader(b)}
}

// NewDirFile wraps directory entries as an fs.ReadDirFile.
func NewDirFile(name string, ents []fs.DirEntry) fs.File {
	return &dirFile{fi: fileInfo{name: path.Base(name), dir: true}, ents: ents}
}

var _ Source = (*Mem)(nil)
