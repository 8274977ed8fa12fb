package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

// Defaults of the limits that have no default lower down.
const (
	defaultRunTimeout  = 15 * time.Minute
	defaultMemoryLimit = 4 << 30
)

// limitFlags bound what one run may cost. Each flag wins over the
// gate.yaml limits key of the same name, which wins over the default.
type limitFlags struct {
	maxDocuments  int
	maxDepth      int
	maxNodes      int
	renderTimeout time.Duration
	policyTimeout time.Duration
	timeout       time.Duration
	memoryLimit   string
}

func addLimitFlags(fs *pflag.FlagSet, l *limitFlags) {
	d := render.DefaultLimits()
	fs.IntVar(&l.maxDocuments, "max-documents", 0, fmt.Sprintf("most YAML documents in one file (default gate.yaml limits.maxDocuments, else %d)", d.MaxDocuments))
	fs.IntVar(&l.maxDepth, "max-yaml-depth", 0, fmt.Sprintf("deepest nesting in one YAML document (default gate.yaml limits.maxYAMLDepth, else %d)", d.MaxDepth))
	fs.IntVar(&l.maxNodes, "max-yaml-nodes", 0, fmt.Sprintf("most nodes in one YAML document once aliases are expanded (default gate.yaml limits.maxYAMLNodes, else %d)", d.MaxNodes))
	fs.DurationVar(&l.renderTimeout, "render-timeout", 0, "bound on rendering one environment (default gate.yaml limits.renderTimeout, else 2m)")
	fs.DurationVar(&l.policyTimeout, "policy-timeout", 0, "bound on one policy evaluation (default gate.yaml limits.policyTimeout, else 2s)")
	fs.DurationVar(&l.timeout, "timeout", 0, "bound on the whole run (default gate.yaml limits.runTimeout, else 15m)")
	fs.StringVar(&l.memoryLimit, "memory-limit", "", "memory budget of the run, like 4GiB or 512MiB; past it the run stops with a finding, 0 for none (default gate.yaml limits.memoryLimit, else 4GiB)")
}

// runLimits are the limits of one run, resolved.
type runLimits struct {
	render        render.Limits
	renderTimeout time.Duration
	policyTimeout time.Duration
	runTimeout    time.Duration
	memory        int64
}

// resolve merges the flags, gate.yaml and the defaults. A value gate.yaml
// gets wrong is an error naming the key.
func (l *limitFlags) resolve(cfg *config.Config) (runLimits, error) {
	var cl config.Limits
	if cfg != nil {
		cl = cfg.Limits
	}
	out := runLimits{render: render.DefaultLimits(), runTimeout: defaultRunTimeout, memory: defaultMemoryLimit}
	pick := func(flag, key int, dst *int) {
		switch {
		case flag > 0:
			*dst = flag
		case key > 0:
			*dst = key
		}
	}
	pick(l.maxDocuments, cl.MaxDocuments, &out.render.MaxDocuments)
	pick(l.maxDepth, cl.MaxYAMLDepth, &out.render.MaxDepth)
	pick(l.maxNodes, cl.MaxYAMLNodes, &out.render.MaxNodes)
	dur := func(flag time.Duration, key, name string, dst *time.Duration) error {
		if flag > 0 {
			*dst = flag
			return nil
		}
		if key == "" {
			return nil
		}
		d, err := time.ParseDuration(key)
		if err != nil || d <= 0 {
			return fmt.Errorf("gate.yaml limits.%s %q: want a duration like 90s", name, key)
		}
		*dst = d
		return nil
	}
	mem := func() error {
		switch {
		case l.memoryLimit != "":
			n, err := parseBytes(l.memoryLimit)
			if err != nil {
				return fmt.Errorf("--memory-limit: %w", err)
			}
			out.memory = n
		case cl.MemoryLimit != "":
			n, err := parseBytes(cl.MemoryLimit)
			if err != nil {
				return fmt.Errorf("gate.yaml limits.memoryLimit: %w", err)
			}
			out.memory = n
		}
		return nil
	}
	return out, errors.Join(
		dur(l.renderTimeout, cl.RenderTimeout, "renderTimeout", &out.renderTimeout),
		dur(l.policyTimeout, cl.PolicyTimeout, "policyTimeout", &out.policyTimeout),
		dur(l.timeout, cl.RunTimeout, "runTimeout", &out.runTimeout),
		mem(),
	)
}

// parseBytes reads 4GiB, 512MiB, 1.5G, 1000000 or 0.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mult > math.MaxInt64 {
		return 0, fmt.Errorf("%q: want a size like 4GiB or 512MiB", s)
	}
	return int64(v * mult), nil
}

// configMaxFile is the file size limit for a run: --max-file-size when
// given, else the trusted gate.yaml's limits.maxFileSize, else the flag's
// default. A gate.yaml that does not load or parse leaves the flag's
// value; loading it again reports the problem.
func (g *globals) configMaxFile(trusted fs.ReadFileFS) int64 {
	if g.maxFileSet {
		return g.maxFile
	}
	cfg, _, err := config.Load(trusted, g.configPath)
	if err != nil || cfg.Limits.MaxFileSize == "" {
		return g.maxFile
	}
	n, err := parseBytes(cfg.Limits.MaxFileSize)
	if err != nil || n <= 0 {
		g.log.Warn("gate.yaml limits.maxFileSize ignored", "value", cfg.Limits.MaxFileSize, "err", err)
		return g.maxFile
	}
	return n
}

// renderOptionsFor is renderOptions with the limits of cfg and the flags;
// for commands that only render, a gate.yaml value that does not parse is
// logged and its default used.
func (g *globals) renderOptionsFor(cfg *config.Config) render.Options {
	opts := g.renderOptions()
	lim, err := g.limits.resolve(cfg)
	if err != nil {
		g.log.Warn("limit ignored", "err", err)
	}
	opts.Limits, opts.Timeout = lim.render, lim.renderTimeout
	return opts
}

// errMemoryBudget is the cause of a run stopped for its memory budget.
var errMemoryBudget = errors.New("memory budget exceeded")

// runGuard holds a run to its total deadline and memory budget.
type runGuard struct {
	lim     runLimits
	file    string
	cancel  context.CancelCauseFunc
	stopCtx context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
	prevMem int64
	mu      sync.Mutex
	peak    uint64
}

// limitRun applies the limits to a request and bounds the run: the
// returned context ends at the total deadline, or when the heap outgrows
// the memory budget. Call finish with the engine's result, then stop.
func (g *globals) limitRun(ctx context.Context, req *engine.Request) (context.Context, *runGuard, error) {
	lim, err := g.limits.resolve(req.Config)
	if err != nil {
		return ctx, nil, usageErr("%v", err)
	}
	req.Render.Limits, req.Render.Timeout = lim.render, lim.renderTimeout
	rg := &runGuard{lim: lim, file: "gate.yaml", done: make(chan struct{}), prevMem: -1}
	if req.Config != nil && req.Config.File != "" {
		rg.file = req.Config.File
	}
	ctx, rg.stopCtx = context.WithTimeout(ctx, lim.runTimeout)
	ctx, rg.cancel = context.WithCancelCause(ctx)
	if lim.memory > 0 {
		// A soft limit under the budget (gc.go's, or GOMEMLIMIT) is kept;
		// one over it is lowered to it, so the GC works harder near the
		// budget. The sampler stops the run when live memory stays over.
		if cur := debug.SetMemoryLimit(-1); lim.memory < cur {
			rg.prevMem = debug.SetMemoryLimit(lim.memory)
		}
		if rg.over() {
			rg.cancel(errMemoryBudget)
		} else {
			rg.wg.Add(1)
			go rg.sample()
		}
	}
	return ctx, rg, nil
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func (rg *runGuard) sample() {
	defer rg.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if rg.over() {
			rg.cancel(errMemoryBudget)
			return
		}
		select {
		case <-rg.done:
			return
		case <-t.C:
		}
	}
}

// over reports whether live memory is past the budget.
func (rg *runGuard) over() bool {
	h := heapBytes()
	if h > uint64(rg.lim.memory) {
		runtime.GC() // count only what is live
		h = heapBytes()
	}
	rg.note(h)
	return h > uint64(rg.lim.memory)
}

func (rg *runGuard) note(h uint64) {
	rg.mu.Lock()
	rg.peak = max(rg.peak, h)
	rg.mu.Unlock()
}

// finish turns a run the limits stopped into a report with one finding
// that names the limit and how to raise it, so every output format and
// the exit code (1) say what happened.
func (rg *runGuard) finish(ctx context.Context, rep *checks.Report, err error) (*checks.Report, error) {
	if rg == nil || ctx.Err() == nil {
		return rep, err
	}
	// The run may also have completed with the stop showing only as
	// stage findings (a policy evaluation cut short): the limit is
	// reported either way.
	var f checks.Finding
	switch {
	case errors.Is(context.Cause(ctx), errMemoryBudget):
		f = checks.Finding{Check: "run", RuleID: "run/memory-limit", Severity: checks.SeverityError, Origin: checks.Origin{File: rg.file},
			Message: fmt.Sprintf("the run was stopped: its live memory passed its budget of %s (limit memory-limit; raise it with --memory-limit or gate.yaml limits.memoryLimit)", humanBytes(rg.lim.memory))}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		f = checks.Finding{Check: "run", RuleID: "run/timeout", Severity: checks.SeverityError, Origin: checks.Origin{File: rg.file},
			Message: fmt.Sprintf("the run did not finish within %s (limit timeout; raise it with --timeout or gate.yaml limits.runTimeout)", rg.lim.runTimeout)}
	default:
		return rep, err
	}
	if err != nil || rep == nil {
		rep = &checks.Report{FailOn: checks.SeverityError}
	}
	rep.Findings = append(rep.Findings, f)
	rep.Finalize()
	return rep, nil
}

// stop ends the sampler and restores the memory limit.
func (rg *runGuard) stop() {
	if rg == nil {
		return
	}
	close(rg.done)
	rg.wg.Wait()
	if rg.prevMem >= 0 {
		debug.SetMemoryLimit(rg.prevMem)
	}
	rg.cancel(nil)
	rg.stopCtx()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
