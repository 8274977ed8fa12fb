package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// openPTY opens a real pseudo-terminal: the tty end is what gate writes to
// (a terminal to term.IsTerminal), the master end is what a user's
// terminal emulator would read. Output post-processing is switched off so
// bytes arrive as written.
func openPTY(t *testing.T) (tty *os.File, read func() string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatalf("raw pty: %v", err)
	}
	// Drain the master while gate writes, so a long report never blocks
	// on a full terminal buffer.
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&buf, master) //nolint:errcheck // ends with EIO when the tty closes
	}()
	closed := false
	t.Cleanup(func() {
		if !closed {
			tty.Close()
			<-done
		}
		master.Close()
	})
	return tty, func() string {
		if !closed {
			closed = true
			tty.Close()
			<-done
		}
		return buf.String()
	}
}

// runGateTTY runs the CLI in process with stdout and stderr given.
func runGateTTY(t *testing.T, stdout, stderr *os.File, args ...string) int {
	t.Helper()
	return execute(context.Background(), args, nil, stdout, stderr)
}

// TestColourOnlyOnATerminal runs `gate check` with stdout on a real
// terminal: coloured, unless NO_COLOR (any value) or --no-color; never
// coloured into a pipe or a file.
func TestColourOnlyOnATerminal(t *testing.T) {
	args := []string{"--repo", exampleRepo, "check", "--env", "dev", "--no-policy", "--no-schema"}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	tests := []struct {
		name    string
		noColor string
		extra   []string
		colour  bool
	}{
		{"terminal", "", nil, true},
		{"NO_COLOR=1", "1", nil, false},
		{"NO_COLOR=true", "true", nil, false},
		{"--no-color", "", []string{"--no-color"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			if tt.noColor == "" {
				os.Unsetenv("NO_COLOR")
			}
			tty, read := openPTY(t)
			code := runGateTTY(t, tty, devNull, append(append([]string{}, args...), tt.extra...)...)
			out := read()
			if code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, out)
			}
			if !strings.Contains(out, "overlays/dev") || !strings.Contains(out, "result:") {
				t.Fatalf("no report on the terminal:\n%q", out)
			}
			if got := strings.Contains(out, "\x1b["); got != tt.colour {
				t.Errorf("colour = %v, want %v:\n%q", got, tt.colour, out)
			}
		})
	}
	// A pipe is not a terminal: no colour, whatever the environment says.
	os.Unsetenv("NO_COLOR")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var piped bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&piped, pr); close(done) }() //nolint:errcheck // test pipe
	runGateTTY(t, pw, devNull, args...)
	pw.Close()
	<-done
	if !strings.Contains(piped.String(), "dev overlays/dev") || strings.Contains(piped.String(), "\x1b[") {
		t.Errorf("piped report: want plain text:\n%q", piped.String())
	}
}

// TestProgressOnlyOnATerminal: the progress line goes to stderr when
// stderr is a terminal, rewritten in place and cleared at the end; it is
// off into a pipe, with --verbose (logs own stderr then), and silent for
// the first half second.
func TestProgressOnlyOnATerminal(t *testing.T) {
	tty, read := openPTY(t)
	g := &globals{stderr: tty}
	p := g.newProgress()
	if p == nil {
		t.Fatal("no progress on a terminal")
	}
	p.report("rendered head prod (1/3)") // within the first half second: silent
	p.start = time.Now().Add(-1500 * time.Millisecond)
	p.report("rendered head prod (2/3)")
	p.report("checked prod (3/3)")
	p.done()
	out := read()
	want := "\r\x1b[K[ 1.5s] rendered head prod (2/3)\r\x1b[K[ 1.5s] checked prod (3/3)\r\x1b[K"
	if out != want {
		t.Errorf("terminal got %q\nwant %q", out, want)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if (&globals{stderr: pw}).newProgress() != nil {
		t.Error("progress on a pipe")
	}
	tty2, _ := openPTY(t)
	if (&globals{stderr: tty2, verbose: true}).newProgress() != nil {
		t.Error("progress with --verbose")
	}
	// A run that reports progress and ends quickly prints nothing at all.
	tty3, read3 := openPTY(t)
	q := (&globals{stderr: tty3}).newProgress()
	q.callback()("rendered head dev (1/1)")
	q.done()
	if out := read3(); out != "" {
		t.Errorf("a fast run wrote progress: %q", out)
	}
}

// TestProgressNeverOnStdout runs a real check with stdout on a terminal and
// stderr on a pipe: the report is on stdout and no progress control
// sequence reaches either.
func TestProgressNeverOnStdout(t *testing.T) {
	tty, read := openPTY(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&errOut, pr); close(done) }() //nolint:errcheck // test pipe
	runGateTTY(t, tty, pw, "--repo", exampleRepo, "check", "--no-color")
	pw.Close()
	<-done
	out := read()
	if !strings.Contains(out, "result:") {
		t.Fatalf("no report on stdout:\n%q", out)
	}
	for name, s := range map[string]string{"stdout": out, "stderr": errOut.String()} {
		if strings.Contains(s, "\x1b[K") {
			t.Errorf("%s holds a progress line: %q", name, s)
		}
	}
}
