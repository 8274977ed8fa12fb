package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/source"
)

// Isolator renders an environment in another process. kustomize and Helm
// take no context: a template that loops for hours or allocates without
// bound can only be stopped by killing what runs it, so a server that
// renders untrusted pull requests (gate serve) renders each environment in
// a worker process it can kill at the deadline or past a memory budget.
type Isolator interface {
	// RenderIsolated renders env of the source spec names and returns the
	// result as EncodeResult wrote it. Errors: the context's when the
	// worker was killed at the deadline, *MemoryError past the budget.
	RenderIsolated(ctx context.Context, spec source.Spec, env checks.Env, opts WorkerOptions) ([]byte, error)
}

// WorkerOptions are the renderer options a worker process needs.
type WorkerOptions struct {
	Limits  Limits        `json:"limits"`
	Timeout time.Duration `json:"timeout"`
	// ChartCache is the chart cache's --cache-dir ("" for none).
	ChartCache string `json:"chartCache,omitempty"`
}

// Options returns the renderer options of a worker.
func (w WorkerOptions) Options() Options {
	o := Options{Limits: w.Limits, Timeout: w.Timeout, Parallelism: 1}
	if w.ChartCache != "" {
		o.Charts = charts.Open(w.ChartCache)
	}
	return o
}

// MemoryError is a worker that went past its memory budget.
type MemoryError struct {
	Limit int64
	Used  uint64
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("rendering used more than its memory budget of %d MiB (limit render-memory; raise it with --render-memory)", e.Limit>>20)
}

// EncodeResult writes a Result, origins included, for DecodeResult: the
// render cache's entry format, also what a worker process sends back.
func EncodeResult(w io.Writer, res *Result) error {
	return json.NewEncoder(w).Encode(entryOf(res))
}

// DecodeResult reads what EncodeResult wrote; src is the source the result
// was rendered from, read again when a finding is located.
func DecodeResult(b []byte, src source.Source, lim Limits) (*Result, error) {
	var e cacheEntry
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&e); err != nil {
		return nil, fmt.Errorf("decode rendered environment: %w", err)
	}
	if e.Format != cacheFormat {
		return nil, fmt.Errorf("decode rendered environment: format %q, want %q", e.Format, cacheFormat)
	}
	return resultOf(&e, src, lim), nil
}

func (r *Renderer) workerOptions() WorkerOptions {
	w := WorkerOptions{Limits: r.opts.Limits, Timeout: r.opts.Timeout}
	if r.opts.Charts != nil {
		w.ChartCache = r.opts.Charts.Dir()
	}
	return w
}

// renderIsolated renders through the Isolator when the source can be
// reopened by another process; ok is false when it cannot (in-memory
// sources render in process).
func (r *Renderer) renderIsolated(ctx context.Context, src source.Source, env checks.Env) (*Result, bool) {
	ro, isRO := src.(source.Reopener)
	if !isRO {
		return nil, false
	}
	spec, ok := ro.Spec()
	if !ok {
		return nil, false
	}
	b, err := r.opts.Isolate.RenderIsolated(ctx, spec, env, r.workerOptions())
	if err == nil {
		res, derr := DecodeResult(b, src, r.opts.Limits)
		if derr == nil {
			return res, true
		}
		err = derr
	}
	res := newResult(env, src, r.opts.Limits)
	var me *MemoryError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Findings = append(res.Findings, r.errFinding(env, context.DeadlineExceeded))
	case errors.As(err, &me):
		res.Findings = append(res.Findings, r.finding(env, "render/memory", env.Path, 0, me.Error()))
	default:
		res.Findings = append(res.Findings, r.finding(env, "render/internal", env.Path, 0, fmt.Sprintf("render worker failed: %v", err)))
	}
	return res, true
}
