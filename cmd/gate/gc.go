package main

import (
	"os"
	"runtime/debug"
)

// GC settings for gate's workload: a run allocates a lot of short-lived
// YAML trees (kustomize re-encodes every object many times) over a live
// heap of a few hundred MiB at most. With Go's default GOGC=100 the
// collector took about a fifth of a 50-environment check; 300 roughly
// halves that, and the soft memory limit makes the collector work harder
// instead of letting the heap grow past it, keeping peak memory well under
// 1 GiB. GOGC and GOMEMLIMIT in the environment override both, as usual.
const (
	gcPercent   = 300
	memoryLimit = 768 << 20
)

func init() { tuneGC(os.Getenv) }

func tuneGC(getenv func(string) string) (percent int, limit int64) {
	percent, limit = -2, -1 // unchanged
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		percent = gcPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
		limit = memoryLimit
	}
	return percent, limit
}
