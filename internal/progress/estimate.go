package progress

import "sync"

// Estimate is the expected total of a job made of items (a dump's tables)
// whose sizes are only estimated up front (the server's statistics), and
// the amount really done. While an item is in progress, its size is
// projected from what was done of it per row times its estimated rows
// (when both are known: the server's byte estimate may be stale while its
// row count is not); as an item finishes, its real size replaces its
// estimate, and the items not started yet are scaled by how far the
// finished ones were off (real / estimated), so the total converges on
// the real one. Total is never below Done: a bar fed from an Estimate never
// shows more than 100 %. Safe for concurrent use.
type Estimate struct {
	mu       sync.Mutex
	est      map[string]Item // the estimate of each item not finished
	got      map[string]Item // what was done of each item started and not finished
	waiting  int64           // Σ estimated bytes of the items not started
	finEst   int64           // Σ estimated bytes of the finished items (those of minRatioItem or more)
	finReal  int64           // Σ real sizes of the same items
	finished int64           // Σ real sizes of finished items and of work of no item
	done     int64
}

// Item is the size of one item: bytes, and rows when known (0: not).
type Item struct {
	Bytes, Rows int64
}

// NewEstimate starts from the estimated size of each item.
func NewEstimate(items map[string]Item) *Estimate {
	e := &Estimate{est: map[string]Item{}, got: map[string]Item{}}
	for k, v := range items {
		v = Item{Bytes: max(v.Bytes, 0), Rows: max(v.Rows, 0)}
		e.est[k] = v
		e.waiting += v.Bytes
	}
	return e
}

// Add records n bytes (and rows) done of item. Work of no known item ("",
// a schema part) is counted as done and as exact (it adds as much to the
// total).
func (e *Estimate) Add(item string, n, rows int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done += n
	if est, ok := e.est[item]; ok {
		g, started := e.got[item]
		if !started {
			e.waiting -= est.Bytes
		}
		e.got[item] = Item{Bytes: g.Bytes + n, Rows: g.Rows + rows}
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
		e.waiting -= est.Bytes
	}
	delete(e.est, item)
	delete(e.got, item)
	if est.Bytes >= minRatioItem {
		e.finEst += est.Bytes
		e.finReal += got.Bytes
	}
	e.finished += got.Bytes
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

// Total is the expected total: the finished items' real sizes; each item
// in progress projected from its bytes per row (else its estimate scaled
// like those not started), or what was done of it when that is more; each
// item not started, its estimate corrected by the finished items' ratio of
// real to estimated size. It costs the number of items in progress (a
// dump's connections), not of items.
func (e *Estimate) Total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ratio := 1.0
	if e.finEst > 0 {
		ratio = float64(e.finReal) / float64(e.finEst)
	}
	total := e.finished + int64(float64(e.waiting)*ratio)
	for item, got := range e.got {
		est := e.est[item]
		proj := int64(float64(est.Bytes) * ratio)
		if est.Rows > 0 && got.Rows > 0 {
			proj = int64(float64(got.Bytes) / float64(got.Rows) * float64(est.Rows))
		}
		total += max(proj, got.Bytes) // never below what was done of it
	}
	return total // ≥ done: waiting items have none done, the others count theirs
}
