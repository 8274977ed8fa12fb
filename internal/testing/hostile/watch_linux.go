package hostile

import (
	"fmt"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpenWatch records every open of the files in a set of directories
// (inotify IN_OPEN and IN_ACCESS), whoever opens them: a kernel-level check
// that the process did not read the canary files planted outside the repo
// and in its .git directory, whatever path or symlink it took to get there.
type OpenWatch struct {
	fd   int
	mu   sync.Mutex
	wds  map[int32]string
	done chan struct{}
	seen []string
}

// WatchOpens watches dirs (not recursively).
func WatchOpens(dirs ...string) (*OpenWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &OpenWatch{fd: fd, wds: map[int32]string{}, done: make(chan struct{})}
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_OPEN|unix.IN_ACCESS)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("inotify watch %s: %w", d, err)
		}
		w.wds[int32(wd)] = d
	}
	return w, nil
}

// drain reads the pending events.
func (w *OpenWatch) drain() {
	buf := make([]byte, 64*1024)
	for {
		n, err := unix.Read(w.fd, buf)
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				b := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				for i, c := range b {
					if c == 0 {
						b = b[:i]
						break
					}
				}
				name = string(b)
			}
			what := "accessed"
			if ev.Mask&unix.IN_OPEN != 0 {
				what = "opened"
			}
			w.mu.Lock()
			w.seen = append(w.seen, fmt.Sprintf("%s %s", what, filepath.Join(w.wds[ev.Wd], name)))
			w.mu.Unlock()
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// Events returns every open or read seen so far.
func (w *OpenWatch) Events() []string {
	w.drain()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// Close stops watching.
func (w *OpenWatch) Close() error { return unix.Close(w.fd) }
