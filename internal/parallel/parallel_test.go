package parallel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/parallel"
)

func TestEachBoundsConcurrencyAndVisitsAll(t *testing.T) {
	items := make([]int, 50)
	for i := range items {
		items[i] = i
	}
	var running, peak, sum atomic.Int64
	err := parallel.Each(context.Background(), items, 4, func(_ context.Context, i int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		sum.Add(int64(i))
		running.Add(-1)
		return nil
	})
	require.NoError(t, err)
	assert.LessOrEqual(t, peak.Load(), int64(4))
	assert.Equal(t, int64(49*50/2), sum.Load())
}

func TestEachReturnsFirstErrorAndStops(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	err := parallel.Each(context.Background(), make([]int, 1000), 1, func(context.Context, int) error {
		calls.Add(1)
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Less(t, calls.Load(), int64(1000))
}
