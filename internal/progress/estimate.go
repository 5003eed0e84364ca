package progress

import "sync"

// Estimate is the expected total of a job made of items (a dump's tables)
// whose sizes are only estimated up front (the server's statistics), and
// the amount really done. As an item finishes, its real size replaces its
// estimate, and the items not finished yet are scaled by how far the
// finished ones were off (real / estimated), so the total converges on
// the real one. Total is never below Done: a bar fed from an Estimate never
// shows more than 100 %. Safe for concurrent use.
type Estimate struct {
	mu       sync.Mutex
	est      map[string]int64 // the estimate of each item not finished
	got      map[string]int64 // what was done of each item started and not finished
	waiting  int64            // Σ estimates of the items not started
	finEst   int64            // Σ estimates of the finished items (those of minRatioItem or more)
	finReal  int64            // Σ real sizes of the same items
	finished int64            // Σ real sizes of finished items and of work of no item
	done     int64
}

// NewEstimate starts from the estimated size of each item.
func NewEstimate(items map[string]int64) *Estimate {
	e := &Estimate{est: map[string]int64{}, got: map[string]int64{}}
	for k, v := range items {
		e.est[k] = max(v, 0)
		e.waiting += e.est[k]
	}
	return e
}

// Add records n done of item. Work of no known item ("", a schema part)
// is counted as done and as exact (it adds as much to the total).
func (e *Estimate) Add(item string, n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done += n
	if est, ok := e.est[item]; ok {
		if _, started := e.got[item]; !started {
			e.waiting -= est
		}
		e.got[item] += n
		return
	}
	e.finished += n
}

// Finish says item is complete: what was done of it is its real size.
func (e *Estimate) Finish(item string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	est, ok := e.est[item]
	if !ok {
		return
	}
	got, started := e.got[item]
	if !started {
		e.waiting -= est
	}
	delete(e.est, item)
	delete(e.got, item)
	if est >= minRatioItem {
		e.finEst += est
		e.finReal += got
	}
	e.finished += got
}

// minRatioItem is the smallest estimate that says how far the estimates are
// off: a small table's is page-granular (InnoDB reports 16 KiB for an empty
// one), and a few empty tables finishing first must not shrink the rest.
const minRatioItem = 256 << 10

// Done is the amount done so far.
func (e *Estimate) Done() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

// Total is the expected total: the finished items' real sizes, plus each
// unfinished item's estimate corrected by the finished items' ratio of real
// to estimated size, or what was done of it when that is more. It costs
// the number of items in progress (a dump's connections), not of items.
func (e *Estimate) Total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ratio := 1.0
	if e.finEst > 0 {
		ratio = float64(e.finReal) / float64(e.finEst)
	}
	total := e.finished + int64(float64(e.waiting)*ratio)
	for item, got := range e.got {
		total += max(int64(float64(e.est[item])*ratio), got) // never below what was done of it
	}
	return total // ≥ done: waiting items have none done, the others count theirs
}
