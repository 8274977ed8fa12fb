//go:build linux

package source

import (
	"io/fs"
	"syscall"
)

// fileStat is what stat says of a file that changes when it is written.
type fileStat struct {
	Size    int64  `json:"z"`
	MtimeNs int64  `json:"m"`
	CtimeNs int64  `json:"c"`
	Ino     uint64 `json:"i"`
	Dev     uint64 `json:"d"`
}

func statOf(fi fs.FileInfo) (fileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, false
	}
	return fileStat{
		Size:    fi.Size(),
		MtimeNs: fi.ModTime().UnixNano(),
		CtimeNs: st.Ctim.Nano(),
		Ino:     uint64(st.Ino),
		Dev:     st.Dev,
	}, true
}

// settledBefore reports whether the file was last written before t (unix ns).
func (st fileStat) settledBefore(t int64) bool { return st.MtimeNs < t && st.CtimeNs < t }

func (st fileStat) sizeIs(n int64) bool { return st.Size == n }
