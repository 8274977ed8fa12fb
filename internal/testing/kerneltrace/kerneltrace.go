// Package kerneltrace re-runs tests of the current test binary the way a
// hostile input should meet gate in production, and records what the
// kernel saw rather than what gate's own hooks saw: the child runs in a new,
// empty network namespace (only a loopback interface), under strace -f,
// which logs every connect, every open (with the path the kernel resolved
// it to, through any symlink) and every program run, whichever library
// made the call and however it reached the network or the file system.
//
// A test calls Unavailable first and skips, saying why, when the machine
// does not allow it (not Linux, no strace, no permission to make a network
// namespace); CI runs as root, where it is always available.
package kerneltrace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

const (
	childEnv  = "GATE_KERNEL_TRACE_CHILD"
	parentEnv = "GATE_KERNEL_TRACE_PARENT_NETNS"
	probeEnv  = "GATE_KERNEL_TRACE_PROBE"
	// ProbeAddr is the address the child's probe connects to (TEST-NET-1,
	// unroutable): proof that the trace sees the child's connects.
	ProbeAddr = "192.0.2.1:9"
)

// Child reports whether this process is the traced re-run.
func Child() bool { return os.Getenv(childEnv) != "" }

// Open is one successful open(2) the kernel resolved to Path.
type Open struct {
	PID     string
	Program string // the program the process ran when it opened Path
	Path    string // where the kernel opened it (strace -y), symlinks followed
	Write   bool   // opened for writing or creating
	Dir     bool   // opened as a directory
	Line    string
	at      string // strace's timestamp (-ttt)
}

// Result is what the trace saw.
type Result struct {
	// Connects are the connect(2) calls, of any address family, made by
	// any process of the run (including those that failed).
	Connects []string
	// Opens are the successful opens.
	Opens []Open
	// Execs are the programs run (successful execve), the test binary
	// first.
	Execs []string
	// Output is the child's combined output; Err its exit status.
	Output string
	Err    error
	// Took is the child's wall-clock time.
	Took time.Duration

	threadOf map[string]string // a thread's parent thread (CLONE_THREAD)
	execOf   map[string]string // the program a process (its main thread) ran
}

// Program is the program the process of thread pid ran.
func (r *Result) Program(pid string) string {
	for i := 0; i < 1000; i++ {
		if p, ok := r.threadOf[pid]; ok {
			pid = p
			continue
		}
		break
	}
	return r.execOf[pid]
}

// Unavailable says why the trace cannot run on this machine, or "" when
// it can.
func Unavailable() string {
	if runtime.GOOS != "linux" {
		return "not Linux: network namespaces and strace are Linux only"
	}
	if _, err := exec.LookPath("strace"); err != nil {
		return "strace is not installed (apt-get install strace)"
	}
	cmd := exec.Command("/bin/true")
	setNetNS(cmd)
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("cannot create a network namespace here (%v): run as root, or where unprivileged user namespaces are allowed", err)
	}
	return ""
}

// Run runs binary with args in a new network namespace under strace and
// returns the trace. env is the child's environment (nil: this
// process's); the child finds Child() true.
func Run(ctx context.Context, binary string, args, env []string) (*Result, error) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gate-kerneltrace-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	// -ff writes one file per process or thread, so no call is split into
	// unfinished and resumed halves; --seccomp-bpf stops only on the
	// traced calls (the run stays fast); -y decodes every descriptor to
	// the path the kernel holds; -s keeps whole paths.
	sargs := []string{"-f", "-ff", "-qq", "-y", "-ttt", "-s", "4096", "--seccomp-bpf",
		"-e", "trace=connect,open,openat,openat2,creat,execve,execveat,clone,clone3,fork,vfork", "-e", "signal=none",
		"-o", filepath.Join(dir, "trace"), "--", binary}
	cmd := exec.CommandContext(ctx, strace, append(sargs, args...)...)
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(append([]string(nil), env...), childEnv+"=1", parentEnv+"="+ns, probeEnv+"="+filepath.Join(dir, "probe"))
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("probe\n"), 0o644); err != nil {
		return nil, err
	}
	setNetNS(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	res := &Result{Output: out.String(), Err: runErr, Took: time.Since(start), threadOf: map[string]string{}, execOf: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(dir, "trace.*"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("strace wrote no trace (%v):\n%s", runErr, out.String())
	}
	sort.Strings(files)
	for _, f := range files {
		if err := res.parse(f); err != nil {
			return nil, err
		}
	}
	for i := range res.Opens {
		res.Opens[i].Program = res.Program(res.Opens[i].PID)
	}
	// What happened before the child read the probe file (the first thing
	// its TestMain does) is the runtime starting (the race detector reads
	// /proc/self/environ) and package initialisation, not a test: left out.
	probe := filepath.Join(dir, "probe")
	start0 := ""
	for _, o := range res.Opens {
		if o.Path == probe {
			start0 = o.at
		}
	}
	if start0 != "" {
		var opens []Open
		for _, o := range res.Opens {
			if later(o.at, start0) {
				opens = append(opens, o)
			}
		}
		res.Opens = opens
	}
	// The probe: the child connected to ProbeAddr and read the probe file.
	// Without both, the trace saw nothing and would pass anything.
	sawConnect, sawOpen := false, false
	var connects []string
	for _, c := range res.Connects {
		if strings.Contains(c, `inet_addr("192.0.2.1")`) && strings.Contains(c, "htons(9)") {
			sawConnect = true
			continue
		}
		connects = append(connects, c)
	}
	res.Connects = connects
	var opens []Open
	for _, o := range res.Opens {
		if o.Path == probe {
			sawOpen = true
			continue
		}
		opens = append(opens, o)
	}
	res.Opens = opens
	if start0 != "" {
		sawOpen = true
	}
	if runErr == nil && (!sawConnect || !sawOpen) {
		return res, fmt.Errorf("the trace missed the child's probe (connect seen %v, open seen %v): it would not see gate's either", sawConnect, sawOpen)
	}
	return res, nil
}

var (
	resultPath = regexp.MustCompile(`= (\d+)<(.*)>$`)
	cloneChild = regexp.MustCompile(`= (\d+)$`)
	execPath   = regexp.MustCompile(`^execve(?:at)?\((?:\d+<[^>]*>, )?"((?:[^"\\]|\\.)*)"`)
)

func (r *Result) parse(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	pid := strings.TrimPrefix(filepath.Ext(file), ".")
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		at, l, _ := strings.Cut(sc.Text(), " ")
		name, _, ok := strings.Cut(l, "(")
		if !ok {
			continue
		}
		switch name {
		case "connect":
			r.Connects = append(r.Connects, pid+" "+l)
		case "open", "openat", "openat2", "creat":
			m := resultPath.FindStringSubmatch(l)
			if m == nil {
				continue // failed: nothing was opened
			}
			r.Opens = append(r.Opens, Open{PID: pid, Path: unquote(m[2]), Line: l, at: at,
				Write: name == "creat" || strings.Contains(l, "O_WRONLY") || strings.Contains(l, "O_RDWR") || strings.Contains(l, "O_CREAT"),
				Dir:   strings.Contains(l, "O_DIRECTORY")})
		case "execve", "execveat":
			if !strings.HasSuffix(l, "= 0") {
				continue
			}
			if m := execPath.FindStringSubmatch(l); m != nil {
				r.Execs = append(r.Execs, unquote(m[1]))
				r.execOf[pid] = unquote(m[1])
			}
		case "clone", "clone3":
			if m := cloneChild.FindStringSubmatch(l); m != nil && strings.Contains(l, "CLONE_THREAD") {
				r.threadOf[m[1]] = pid
			}
		}
	}
	return sc.Err()
}

// later compares two -ttt timestamps (seconds.microseconds, same width).
func later(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a >= b
}

// unquote undoes strace's escapes of a path (\" \\ \xNN and octal).
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; {
		case c == 'x' && i+2 < len(s):
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 2
				continue
			}
			b.WriteByte(c)
		case c >= '0' && c <= '7':
			j, v := i, 0
			for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
				v = v*8 + int(s[j]-'0')
			}
			b.WriteByte(byte(v))
			i = j - 1
		case c == 'n':
			b.WriteByte('\n')
		case c == 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ChildSetup is called first by a traced child (from TestMain): it checks
// that the process is in a network namespace of its own, brings its
// loopback interface up (a server has one; nothing else is there), and
// runs the probe Run looks for.
func ChildSetup() error {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if parent := os.Getenv(parentEnv); ns == parent || parent == "" {
		return fmt.Errorf("kerneltrace: the child is in its parent's network namespace %s", ns)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("kerneltrace: the child's network namespace has an interface %s", i.Name)
		}
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("kerneltrace: loopback up: %w", err)
	}
	d := net.Dialer{Timeout: time.Second}
	if c, err := d.Dial("tcp", ProbeAddr); err == nil {
		c.Close()
		return errors.New("kerneltrace: the probe address answered: this namespace reaches a network")
	}
	b, err := os.ReadFile(os.Getenv(probeEnv))
	if err != nil || string(b) != "probe\n" {
		return fmt.Errorf("kerneltrace: probe file: %v", err)
	}
	return nil
}

// Forbidden says whether a read open is of a file no hostile case may
// read: a file in an outside/ directory under root (where the hostile
// tests plant the canary next to a case's repo), /etc/passwd, /etc/shadow
// or a process's environment. The one open of /proc/self/environ by that
// literal path is the race detector's runtime starting (in every race-built
// process, render workers included); a symlink or a path from a case
// reaches the file by another name.
func Forbidden(o Open, root string) bool {
	if o.Write || o.Dir {
		return false
	}
	switch {
	case o.Path == "/etc/passwd" || o.Path == "/etc/shadow":
		return true
	case strings.HasPrefix(o.Path, "/proc/") && strings.HasSuffix(o.Path, "/environ"):
		return !strings.HasPrefix(o.Line, `openat(AT_FDCWD<`) || !strings.Contains(o.Line, `>, "/proc/self/environ", O_RDONLY)`)
	case strings.HasPrefix(o.Path, root+"/") && filepath.Base(filepath.Dir(o.Path)) == "outside":
		return true
	}
	return false
}
