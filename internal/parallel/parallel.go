// Package parallel runs work over many items with a bounded number at once.
package parallel

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Each calls fn for every item, at most limit at a time, and stops starting
// new calls after the first error, which it returns.
func Each[T any](ctx context.Context, items []T, limit int, fn func(context.Context, T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, it := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, it) })
	}
	return g.Wait()
}
