package mysql

import (
	"context"
	"time"
)

// prepareReplace sets up --replace: a target that exists and is not empty
// is built under a temporary name and swapped in at the end (replace.go).
// It returns the replacer and the SRC → name-written map the guard checks
// against.
func prepareReplace(ctx context.Context, opts RestoreOptions, rn *renamer, tg *targets) (*replacer, map[string]string, error) {
	rp := newReplacer(tg)
	if !opts.Replace {
		return rp, opts.Databases, nil
	}
	rn.alias = rp.alias(ctx)
	guardMap := map[string]string{}
	for src, dst := range opts.Databases {
		w, err := rn.written(dst)
		if err != nil {
			return nil, nil, err
		}
		guardMap[src] = w
	}
	return rp, guardMap, nil
}

// drive runs the statements parsed into ch in order, each with a look at
// the ones after it (lookahead), until ch is closed or a statement failed.
func (e *restoreExec) drive(ch <-chan restoreItem, cr *countingReader, progress func(RestoreProgress)) {
	var lastProgress int64
	win := make([]restoreItem, 0, lookahead+1) // the statements after the one run next
	next := func() {
		it := win[0]
		win = append(win[:0], win[1:]...)
		if e.failed() {
			return
		}
		it.asInsert = e.threads > 1 && alone(it, win)
		e.run(it)
		if n := e.done.Load(); progress != nil && n/1000 != lastProgress/1000 {
			lastProgress = n
			progress(RestoreProgress{Statements: n, RawBytes: cr.n.Load()})
		}
	}
	for it := range ch {
		if win = append(win, it); len(win) > lookahead {
			next()
		}
	}
	for len(win) > 0 {
		next()
	}
}

// fill records a successful restore's figures; a replaced database is
// reported under its own name, not the temporary one it was built under.
func (res *RestoreResult) fill(ex *restoreExec, cr *countingReader, rn *renamer, tg *targets, rp *replacer) {
	res.RawBytes = cr.n.Load()
	res.Databases = rn.targets
	res.Created = tg.created
	for _, r := range rp.replacements() {
		for i, c := range res.Created {
			if c == r.tmp {
				res.Created[i] = r.dst
			}
		}
	}
	res.DeferredKeys = ex.deferred
	res.KeysDuringData = ex.early
	res.Loaded, res.LoadedAsIs = ex.loader.loaded.Load(), ex.loader.asIs.Load()
	res.FinishedAt = time.Now().UTC()
}
