package render

import (
	"context"
	"fmt"
)

// bounded runs a library call that does not watch the context (a
// kustomize build, Helm's template engine) in a goroutine, so the render
// deadline bounds it: when ctx is done first, bounded returns ctx.Err()
// itself and the call is abandoned (it ends on its own, or at its next
// guarded template function). A panic in the call is an error naming what
// panicked ("kustomize panicked: ..."), not a crash of gate.
func bounded[T any](ctx context.Context, what string, call func() (T, error)) (T, error) {
	type out struct {
		v   T
		err error
	}
	ch := make(chan out, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- out{err: fmt.Errorf("%s panicked: %v", what, p)}
			}
		}()
		v, err := call()
		ch <- out{v, err}
	}()
	select {
	case o := <-ch:
		return o.v, o.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
