package restore

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
