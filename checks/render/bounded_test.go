package render

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestBounded: the one helper that runs kustomize and Helm returns the
// call's result, turns a panic into an error naming what panicked, and
// returns the context's own error when the context ends first, leaving
// the call behind.
func TestBounded(t *testing.T) {
	ctx := context.Background()
	if v, err := bounded(ctx, "x", func() (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Errorf("result: %v, %v; want 7, nil", v, err)
	}
	boom := errors.New("boom")
	if _, err := bounded(ctx, "x", func() (int, error) { return 0, boom }); err != boom {
		t.Errorf("error: %v, want the call's", err)
	}
	if _, err := bounded(ctx, "kustomize", func() (int, error) { panic("bad input") }); err == nil || err.Error() != "kustomize panicked: bad input" {
		t.Errorf("panic: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	v, err := bounded(cctx, "helm engine", func() (string, error) {
		close(started)
		<-release // a template that never ends
		return "late", nil
	})
	if v != "" || err != context.Canceled {
		t.Errorf("cancelled: %q, %v; want \"\", context.Canceled itself", v, err)
	}
	if strings.Contains(v, "late") {
		t.Error("the abandoned call's result came back")
	}
}
