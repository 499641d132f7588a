package engine_test

import (
	"runtime"
	"sync"
	"time"
)

// heapWatch samples the heap in use while a test streams, to bound the
// gateway's memory (the test's own buffers are small and fixed).
type heapWatch struct {
	base   uint64
	peak   uint64
	stopCh chan struct{}
	wg     sync.WaitGroup
}

func startHeapWatch() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapWatch{base: ms.HeapInuse, stopCh: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stopCh:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > h.peak {
					h.peak = ms.HeapInuse
				}
			}
		}
	}()
	return h
}

// stop returns the peak growth of the heap over the base.
func (h *heapWatch) stop() uint64 {
	close(h.stopCh)
	h.wg.Wait()
	if h.peak < h.base {
		return 0
	}
	return h.peak - h.base
}
