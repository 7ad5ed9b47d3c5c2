package smpp

import (
	"container/list"
	"context"
	"sync"
)

// window bounds the number of outstanding submit_sm. Its limit shrinks by
// half when the SMSC throttles and grows back by one slot after each run of
// `limit` successful responses (additive increase, multiplicative decrease).
type window struct {
	mu      sync.Mutex
	max     int
	limit   int
	inUse   int
	streak  int
	waiters list.List // of chan struct{}
	gauge   func(inUse int)
}

func newWindow(max int, gauge func(int)) *window {
	if gauge == nil {
		gauge = func(int) {}
	}
	return &window{max: max, limit: max, gauge: gauge}
}

func (w *window) acquire(ctx context.Context) error {
	w.mu.Lock()
	if w.inUse < w.limit && w.waiters.Len() == 0 {
		w.inUse++
		w.gauge(w.inUse)
		w.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	e := w.waiters.PushBack(ch)
	w.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		select {
		case <-ch: // granted meanwhile: give it back
			w.inUse--
			w.grantLocked()
		default:
			w.waiters.Remove(e)
		}
		w.mu.Unlock()
		return ctx.Err()
	}
}

func (w *window) release() {
	w.mu.Lock()
	w.inUse--
	w.grantLocked()
	w.mu.Unlock()
}

func (w *window) grantLocked() {
	for w.inUse < w.limit && w.waiters.Len() > 0 {
		ch := w.waiters.Remove(w.waiters.Front()).(chan struct{})
		w.inUse++
		close(ch)
	}
	w.gauge(w.inUse)
}

func (w *window) success() {
	w.mu.Lock()
	if w.limit < w.max {
		w.streak++
		if w.streak >= w.limit {
			w.streak = 0
			w.limit++
			w.grantLocked()
		}
	}
	w.mu.Unlock()
}

func (w *window) throttled() {
	w.mu.Lock()
	w.limit = max(1, w.limit/2)
	w.streak = 0
	w.mu.Unlock()
}

func (w *window) current() (limit, inUse int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit, w.inUse
}
