package main

import (
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
	tuneGC(func(k string) string { return env[k] })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set by the user, gate changed the GC percent to %d", got)
	}

	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d, want gate's %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != memoryLimit {
		t.Errorf("memory limit %d, want gate's %d", got, memoryLimit)
	}
}
