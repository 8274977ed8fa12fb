package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesUserSettingsAlone(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	defer func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	}()

	env := map[string]string{"GOGC": "50", "GOMEMLIMIT": "2GiB"}
	for _, serve := range []bool{false, true} {
		debug.SetMemoryLimit(1 << 40)
		tuneGC(func(k string) string { return env[k] }, serve)
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("GOGC set by the user, gate changed the GC percent to %d", got)
		}
		if got := debug.SetMemoryLimit(-1); got != 1<<40 {
			t.Errorf("GOMEMLIMIT set by the user, gate changed the limit to %d", got)
		}
	}

	for serve, want := range map[bool]int64{false: cliMemoryLimit, true: serveMemoryLimit} {
		tuneGC(func(string) string { return "" }, serve)
		if got := debug.SetGCPercent(100); got != gcPercent {
			t.Errorf("serve=%v: GC percent %d, want gate's %d", serve, got, gcPercent)
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("serve=%v: memory limit %d, want %d", serve, got, want)
		}
	}
}

// A CLI command runs under the CLI's soft limit, gate serve under its own
// (README "sizing"): the root command picks by the command it runs.
func TestCommandsGetTheirMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT set")
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	debug.SetMemoryLimit(1 << 40)
	if _, _, code := runGate(t, "version"); code != 0 {
		t.Fatalf("gate version: exit %d", code)
	}
	if got := debug.SetMemoryLimit(-1); got != cliMemoryLimit {
		t.Errorf("after gate version: memory limit %d, want the CLI's %d", got, cliMemoryLimit)
	}
	if cliMemoryLimit >= serveMemoryLimit {
		t.Errorf("CLI limit %d not under serve's %d", cliMemoryLimit, serveMemoryLimit)
	}
}
