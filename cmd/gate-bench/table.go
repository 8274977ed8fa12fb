package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func printTable(out io.Writer, o options, envs []*benchEnv, results []*result) {
	helm := 0
	for _, e := range envs {
		if e.Helm {
			helm++
		}
	}
	layout := "kustomize overlays"
	if o.layout == "flux" {
		layout = fmt.Sprintf("Flux clusters, %d HelmReleases each", o.releases)
	}
	fmt.Fprintf(out, "\ngate benchmark (%s): %d envs (%d with a Helm chart) x %d apps, seed %d; %d runs each, medians; GOMAXPROCS %d, %d CPUs; baseline %d envs at once\n\n",
		layout, len(envs), helm, o.apps, o.seed, o.runs, runtime.GOMAXPROCS(0), runtime.NumCPU(), o.par)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pipeline\twall (median)\tmin\tmax\tcpu (median)\tpeak RSS\twhat it found")
	med := map[string]time.Duration{}
	cpu := map[string]time.Duration{}
	rss := map[string]int64{}
	for _, r := range results {
		switch {
		case r.def.skip != "":
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tskipped: %s\n", r.def.title, r.def.skip)
			continue
		case len(r.samples) == 0:
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tFAILED: %v\n", r.def.title, firstLine(r.err))
			continue
		}
		var walls, cpus []time.Duration
		var peak int64
		for _, s := range r.samples {
			walls = append(walls, s.wall)
			cpus = append(cpus, s.cpu)
			peak = max(peak, s.peakRSS)
		}
		m := median(walls)
		med[r.def.id], cpu[r.def.id], rss[r.def.id] = m, median(cpus), peak
		lo, hi := walls[0], walls[0]
		for _, w := range walls {
			lo, hi = min(lo, w), max(hi, w)
		}
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2fs\t%.2fs\t%d MiB\t%s\n", r.def.title, m.Seconds(), lo.Seconds(), hi.Seconds(), cpu[r.def.id].Seconds(), peak>>20, r.samples[len(r.samples)-1].note)
	}
	tw.Flush()

	fmt.Fprintln(out, "\nratios (cpu-time medians, which decide the verdict; wall-clock ratio in brackets)")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio\tvalue\ttarget\tverdict")
	for _, t := range targetsFor(o.layout) {
		v, ok := judge(t, med, cpu)
		if !ok {
			fmt.Fprintf(tw, "%s\t-\t%s\tnot measured\n", t.name, targetText(t.target, t.atLeast))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f (wall %.2f)\t%s\t%s\n", t.name, v.cpu, v.wall, targetText(t.target, t.atLeast), v.verdict)
	}
	tw.Flush()
	verdict := "MET"
	if rss["check"] >= checkMemoryTarget {
		verdict = "MISSED"
	}
	if rss["check"] == 0 {
		verdict = "not measured"
	}
	fmt.Fprintf(out, "gate check peak memory (max ru_maxrss over its runs): %d MiB, target < %d MiB: %s\n", rss["check"]>>20, checkMemoryTarget>>20, verdict)
	var worst int64
	for _, id := range []string{"check", "render", "base-cold", "base-warm"} {
		worst = max(worst, rss[id])
	}
	if worst > 0 {
		fmt.Fprintf(out, "gate peak memory over every gate pipeline: %d MiB\n", worst>>20)
	}
	if rss["baseline"] > 0 {
		fmt.Fprintf(out, "baseline peak memory: %d MiB per process (largest single kustomize/kubeconform/conftest; %d run at once)\n", rss["baseline"]>>20, o.par*3)
	}
}

// ratioTarget is one target the benchmark states as a ratio of two
// pipelines' medians (issue 20). The CPU-time ratio decides: on a shared
// machine wall-clock ratios move with the other processes, CPU time far less.
type ratioTarget struct {
	name    string
	a, b    string // pipeline ids: the ratio is a / b
	target  float64
	atLeast bool // the ratio must be >= target (else <=)
}

var targets = []ratioTarget{
	{"baseline / gate check", "baseline", "check", 6, true},
	{"gate check / render only", "check", "render", 1.2, false},
	{"one env, cold: gate / baseline one env", "base-cold", "baseline-one", 0.5, false},
	{"one env, warm: gate / baseline one env", "base-warm", "baseline-one", 0.3, false},
	{"one-env change (cold) / full check", "base-cold", "check", 0.15, false},
	{"baseline one env / baseline all", "baseline-one", "baseline", 1, false},
}

// targetsFor is the targets of a layout: on the Flux-shaped repo gate
// must be at least 3x faster than the flux-local style script (issue 14).
func targetsFor(layout string) []ratioTarget {
	if layout != "flux" {
		return targets
	}
	ts := append([]ratioTarget(nil), targets...)
	ts[0] = ratioTarget{"baseline (flux-local style) / gate check", "baseline", "check", 3, true}
	return ts
}

// checkMemoryTarget bounds the peak resident memory of a full gate check.
const checkMemoryTarget = 400 << 20

type ratioValue struct {
	cpu, wall float64
	verdict   string
}

// judge computes a target's ratios from the medians; ok is false when
// either pipeline was not measured.
func judge(t ratioTarget, wall, cpu map[string]time.Duration) (ratioValue, bool) {
	if wall[t.a] == 0 || wall[t.b] == 0 || cpu[t.a] == 0 || cpu[t.b] == 0 {
		return ratioValue{}, false
	}
	v := ratioValue{cpu: cpu[t.a].Seconds() / cpu[t.b].Seconds(), wall: wall[t.a].Seconds() / wall[t.b].Seconds(), verdict: "MET"}
	if t.atLeast && v.cpu < t.target || !t.atLeast && v.cpu > t.target {
		v.verdict = "MISSED"
	}
	return v, true
}

// loadAvg is the 1-minute load average ("?" where /proc is missing).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// busy reports a load average above the number of CPUs.
func busy(load string) bool {
	v, err := strconv.ParseFloat(load, 64)
	return err == nil && v > float64(runtime.NumCPU())
}

func targetText(t float64, atLeast bool) string {
	if atLeast {
		return fmt.Sprintf(">= %.2g", t)
	}
	return fmt.Sprintf("<= %.2g", t)
}

func firstLine(err error) string {
	if err == nil {
		return "no runs"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
