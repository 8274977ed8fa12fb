package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/render"
)

// Defaults of the limits that have no default lower down.
const (
	DefaultRunTimeout  = 15 * time.Minute
	DefaultMemoryLimit = 4 << 30
)

// Limits bound what one run may cost, as a front door was told (flags;
// zero values mean "not given"). Each wins over the trusted gate.yaml's
// limits key of the same name, which wins over the default.
type Limits struct {
	MaxDocuments  int
	MaxDepth      int
	MaxNodes      int
	RenderTimeout time.Duration
	PolicyTimeout time.Duration
	Timeout       time.Duration
	MemoryLimit   string
}

// Resolved are the limits of one run.
type Resolved struct {
	Render        render.Limits
	RenderTimeout time.Duration
	PolicyTimeout time.Duration
	RunTimeout    time.Duration
	Memory        int64
}

// Resolve merges l, gate.yaml and the defaults. A value gate.yaml gets
// wrong is an error naming the key.
func (l Limits) Resolve(cfg *config.Config) (Resolved, error) {
	var cl config.Limits
	if cfg != nil {
		cl = cfg.Limits
	}
	out := Resolved{Render: render.DefaultLimits(), RunTimeout: DefaultRunTimeout, Memory: DefaultMemoryLimit}
	pick := func(flag, key int, dst *int) {
		switch {
		case flag > 0:
			*dst = flag
		case key > 0:
			*dst = key
		}
	}
	pick(l.MaxDocuments, cl.MaxDocuments, &out.Render.MaxDocuments)
	pick(l.MaxDepth, cl.MaxYAMLDepth, &out.Render.MaxDepth)
	pick(l.MaxNodes, cl.MaxYAMLNodes, &out.Render.MaxNodes)
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
		case l.MemoryLimit != "":
			n, err := ParseBytes(l.MemoryLimit)
			if err != nil {
				return fmt.Errorf("--memory-limit: %w", err)
			}
			out.Memory = n
		case cl.MemoryLimit != "":
			n, err := ParseBytes(cl.MemoryLimit)
			if err != nil {
				return fmt.Errorf("gate.yaml limits.memoryLimit: %w", err)
			}
			out.Memory = n
		}
		return nil
	}
	return out, errors.Join(
		dur(l.RenderTimeout, cl.RenderTimeout, "renderTimeout", &out.RenderTimeout),
		dur(l.PolicyTimeout, cl.PolicyTimeout, "policyTimeout", &out.PolicyTimeout),
		dur(l.Timeout, cl.RunTimeout, "runTimeout", &out.RunTimeout),
		mem(),
	)
}

// RenderOptions is opts bounded by the resolved limits of cfg; a gate.yaml
// value that does not parse is logged and its default used (for commands
// that only render).
func (l Limits) RenderOptions(opts render.Options, cfg *config.Config, log *slog.Logger) render.Options {
	lim, err := l.Resolve(cfg)
	if err != nil && log != nil {
		log.Warn("limit ignored", "err", err)
	}
	opts.Limits, opts.Timeout = lim.Render, lim.RenderTimeout
	return opts
}

// ParseBytes reads 4GiB, 512MiB, 1.5G, 1000000 or 0.
func ParseBytes(s string) (int64, error) {
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

// MaxFileSize is the file size limit of a run: flag when set, else the
// trusted gate.yaml's limits.maxFileSize, else flag's default. A gate.yaml
// that does not load leaves flag; loading it again reports the problem.
func MaxFileSize(trusted fs.ReadFileFS, configPath string, flag int64, flagSet bool, log *slog.Logger) int64 {
	if flagSet {
		return flag
	}
	cfg, _, err := config.Load(trusted, configPath)
	if err != nil || cfg.Limits.MaxFileSize == "" {
		return flag
	}
	n, err := ParseBytes(cfg.Limits.MaxFileSize)
	if err != nil || n <= 0 {
		if log != nil {
			log.Warn("gate.yaml limits.maxFileSize ignored", "value", cfg.Limits.MaxFileSize, "err", err)
		}
		return flag
	}
	return n
}

// errMemoryBudget is the cause of a run stopped for its memory budget.
var errMemoryBudget = errors.New("memory budget exceeded")

// Guard holds a run to its total deadline and memory budget.
type Guard struct {
	lim     Resolved
	file    string
	cancel  context.CancelCauseFunc
	stopCtx context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
	prevMem int64
	mu      sync.Mutex
	peak    uint64
}

// Bound applies the limits to req and bounds the run: the returned context
// ends at the total deadline, or when the heap outgrows the memory budget.
// Call Finish with the engine's result, then Stop.
func Bound(ctx context.Context, req *engine.Request, l Limits) (context.Context, *Guard, error) {
	lim, err := l.Resolve(req.Config)
	if err != nil {
		return ctx, nil, err
	}
	req.Render.Limits, req.Render.Timeout = lim.Render, lim.RenderTimeout
	rg := &Guard{lim: lim, file: "gate.yaml", done: make(chan struct{}), prevMem: -1}
	if req.Config != nil && req.Config.File != "" {
		rg.file = req.Config.File
	}
	ctx, rg.stopCtx = context.WithTimeout(ctx, lim.RunTimeout)
	ctx, rg.cancel = context.WithCancelCause(ctx)
	if lim.Memory > 0 {
		// A soft limit under the budget (GOMEMLIMIT or the binary's own) is
		// kept; one over it is lowered to it, so the GC works harder near
		// the budget. The sampler stops the run when live memory stays over.
		if cur := debug.SetMemoryLimit(-1); lim.Memory < cur {
			rg.prevMem = debug.SetMemoryLimit(lim.Memory)
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

func (rg *Guard) sample() {
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
func (rg *Guard) over() bool {
	h := heapBytes()
	if h > uint64(rg.lim.Memory) {
		runtime.GC() // count only what is live
		h = heapBytes()
	}
	rg.mu.Lock()
	rg.peak = max(rg.peak, h)
	rg.mu.Unlock()
	return h > uint64(rg.lim.Memory)
}

// Finish turns a run the limits stopped into a report with one finding
// that names the limit and how to raise it, so every output format and
// the exit code (1) say what happened.
func (rg *Guard) Finish(ctx context.Context, rep *checks.Report, err error) (*checks.Report, error) {
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
			Message: fmt.Sprintf("the run was stopped: its live memory passed its budget of %s (limit memory-limit; raise it with --memory-limit or gate.yaml limits.memoryLimit)", HumanBytes(rg.lim.Memory))}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		f = checks.Finding{Check: "run", RuleID: "run/timeout", Severity: checks.SeverityError, Origin: checks.Origin{File: rg.file},
			Message: fmt.Sprintf("the run did not finish within %s (limit timeout; raise it with --timeout or gate.yaml limits.runTimeout)", rg.lim.RunTimeout)}
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

// Stop ends the sampler and restores the memory limit.
func (rg *Guard) Stop() {
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

// HumanBytes says 4GiB, 512MiB or "1000 bytes".
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
