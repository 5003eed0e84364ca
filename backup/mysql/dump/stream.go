package dump

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"sync"
	"sync/atomic"
)

// part is one piece of the output stream; its compressed frames arrive on
// frames (closed when the part is complete; err is set before closing).
type part struct {
	db, table string
	frames    chan []byte
	err       error
	raw       int64  // uncompressed SQL (complete once frames is closed)
	rows      int64  // rows of a data part (set before frames is closed)
	ends      string // the table whose data this part ends (its end-of-data marker)

	// data parts
	tbl   *schema.TableMeta
	where string // "" = whole table
	order string
	first bool
}

func (d *Dumper) getBuf() []byte {
	if b, ok := d.bufPool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, frameBytes+frameBytes/2)
}

func (d *Dumper) putBuf(b []byte) {
	if cap(b) > 4*frameBytes {
		return
	}
	d.bufPool.Put(&b)
}

func (d *Dumper) getFrame() []byte {
	if b, ok := d.framePool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func (d *Dumper) putFrame(b []byte) {
	if cap(b) > 4*frameBytes {
		return
	}
	d.framePool.Put(&b)
}

func (d *Dumper) stream(ctx context.Context, cancel context.CancelCauseFunc, metas []*schema.DBMeta, w io.Writer) error {
	maxInFlight := 2*len(d.workers) + 2
	order := make(chan *part, maxInFlight)
	slots := make(chan struct{}, maxInFlight)
	work := make(chan *part)
	tallies := map[*schema.TableMeta]*tableTally{}
	for _, m := range metas {
		for _, t := range m.Tables {
			tallies[t] = new(tableTally)
		}
	}

	var wg sync.WaitGroup
	fail := func(err error) { cancel(err) }

	// Workers.
	for _, c := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				n, sum, err := d.dumpPart(ctx, c, p)
				p.rows = n
				tallies[p.tbl].rows.Add(n)
				tallies[p.tbl].digest.Add(sum)
				if err != nil {
					p.err = err
					fail(err)
				}
				close(p.frames)
			}
		}()
	}

	// Planner: emits parts in output order.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(order)
		if err := d.plan(ctx, metas, func(p *part) bool {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			select {
			case order <- p:
			case <-ctx.Done():
				return false
			}
			if p.tbl != nil {
				select {
				case work <- p:
				case <-ctx.Done():
					return false
				}
			}
			return true
		}); err != nil {
			fail(err)
		}
	}()

	// Writer (this goroutine).
	var werr error
	var written int64
	for p := range order {
		if werr == nil {
			werr = d.writePart(ctx, p, w)
			if werr != nil {
				fail(werr)
			}
		}
		// After a failure the context is cancelled: producers blocked on
		// p.frames give up by themselves, nothing needs draining.
		<-slots
		if werr == nil && d.opts.Progress != nil {
			written += p.raw // p.frames is closed: its worker is done with p
			d.opts.Progress(Progress{Database: p.db, Table: p.table, RawBytes: written, StoredBytes: d.stored.Load(), PartBytes: p.raw, PartRows: p.rows, Ended: p.ends})
		}
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	d.finish(metas, tallies)
	return nil
}

// tableTally adds up the rows and the content digest of one table over its
// parts (the sum of the rows' hashes: independent of their order).
type tableTally struct {
	rows   atomic.Int64
	digest atomic.Uint64
}

// finish records every table's rows (and, when asked, its content digest)
// and the stream's sizes in the result.
func (d *Dumper) finish(metas []*schema.DBMeta, tallies map[*schema.TableMeta]*tableTally) {
	for _, m := range metas {
		for _, t := range m.Tables {
			st := TableStat{Database: t.DB, Name: t.Name, Rows: tallies[t].rows.Load()}
			if d.opts.Checksums {
				st.Digest = formatDigest(tallies[t].digest.Load())
			}
			d.Res.Tables = append(d.Res.Tables, st)
		}
	}
	d.Res.RawBytes = d.rawBytes.Load()
	d.Res.StoredBytes = d.stored.Load()
}

func (d *Dumper) writePart(ctx context.Context, p *part, w io.Writer) error {
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				if p.err != nil {
					return p.err
				}
				return nil
			}
			n, err := w.Write(f)
			d.stored.Add(int64(n))
			d.putFrame(f)
			if err == nil && n < len(f) {
				err = io.ErrShortWrite
			}
			if err != nil {
				return fmt.Errorf("write dump stream: %w", err)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// staticPart compresses already-known SQL text into a finished part.
func (d *Dumper) staticPart(db, table, sqlText string) (*part, error) {
	p := &part{db: db, table: table, frames: make(chan []byte, 1)}
	d.rawBytes.Add(int64(len(sqlText)))
	p.raw = int64(len(sqlText))
	f, err := d.codec.Compress(d.getFrame(), []byte(sqlText))
	if err != nil {
		return nil, err
	}
	p.frames <- f
	close(p.frames)
	return p, nil
}

// dumpPart reads one table range on c and sends its SQL, compressed in
// frames, on p.frames. It returns the number of rows and the sum of their
// hashes.
func (d *Dumper) dumpPart(ctx context.Context, c *sql.Conn, p *part) (int64, uint64, error) {
	t := p.tbl
	what := fmt.Sprintf("table %s.%s", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name))
	if _, err := c.ExecContext(ctx, "SAVEPOINT ops_sp"); err != nil {
		return 0, 0, fmt.Errorf("%s: SAVEPOINT: %w", what, err)
	}
	q := "SELECT " + selectList(d.Srv, t) + " FROM " + sqltext.QuoteIdent(t.DB) + "." + sqltext.QuoteIdent(t.Name)
	if p.where != "" {
		q += " WHERE " + p.where
	}
	if p.order != "" && p.where != "" {
		q += " ORDER BY " + p.order
	}
	pw := &partWriter{d: d, ctx: ctx, p: p, head: insertHead(t), raw: d.getBuf(), digest: d.opts.Checksums}
	if p.first {
		pw.raw = append(pw.raw, "\n--\n-- Data of table "+sqltext.CommentIdent(t.Name)+"\n--\n"...)
	}
	err := readRows(ctx, c, q, pw.add)
	if err == nil {
		err = pw.close()
	} else {
		_ = pw.wait()
	}
	d.putBuf(pw.raw)
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			return pw.rows, pw.sum, c
		}
		return pw.rows, pw.sum, fmt.Errorf("%s: read rows: %w", what, err)
	}
	if _, err := c.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ops_sp"); err != nil {
		return pw.rows, pw.sum, fmt.Errorf("%s: ROLLBACK TO SAVEPOINT: %w", what, err)
	}
	return pw.rows, pw.sum, nil
}

// readRows runs q on the driver connection and calls fn with each row
// rendered as a SQL tuple "(v1,v2,…)"; the buffer is reused between calls.
func readRows(ctx context.Context, c *sql.Conn, q string, fn func(row []byte) error) error {
	return c.Raw(func(dc any) error {
		qr, err := dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		if err != nil {
			return err
		}
		defer qr.Close()
		cols := qr.Columns()
		kinds := make([]sqltext.ValueKind, len(cols))
		if ct, ok := qr.(driver.RowsColumnTypeDatabaseTypeName); ok {
			for i := range cols {
				kinds[i] = sqltext.KindOf(ct.ColumnTypeDatabaseTypeName(i))
			}
		}
		dest := make([]driver.Value, len(cols))
		var row []byte
		for {
			err := qr.Next(dest)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			row = append(row[:0], '(')
			for i, v := range dest {
				if i > 0 {
					row = append(row, ',')
				}
				if row, err = sqltext.AppendDriverValue(row, v, kinds[i]); err != nil {
					return fmt.Errorf("column %s: %w", sqltext.QuoteIdent(cols[i]), err)
				}
			}
			row = append(row, ')')
			if err := fn(row); err != nil {
				return err
			}
		}
	})
}

// partWriter turns the rows of one part into extended INSERTs of at most
// stmtCap bytes and hands them on as compressed frames of ~frameBytes.
type partWriter struct {
	d       *Dumper
	ctx     context.Context
	p       *part
	head    string // INSERT INTO … VALUES
	raw     []byte // SQL not yet compressed
	stmtLen int    // bytes of the current INSERT, 0 = none open
	rows    int64
	digest  bool // add up the rows' hashes in sum
	sum     uint64

	rawq  chan []byte   // SQL buffers to compress, in order (nil until the first)
	cdone chan struct{} // closed when the compressor has ended
	cerr  error         // the compressor's error (read after cdone)
}

// add appends one row tuple.
func (w *partWriter) add(row []byte) error {
	if w.stmtLen > 0 && w.stmtLen+1+len(row)+2 > w.d.stmtCap {
		w.raw = append(w.raw, ";\n"...)
		w.stmtLen = 0
		if len(w.raw) >= frameBytes {
			if err := w.send(); err != nil {
				return err
			}
		}
	}
	if w.stmtLen == 0 {
		w.raw = append(w.raw, w.head...)
		w.stmtLen = len(w.head)
	} else {
		w.raw = append(w.raw, ',')
		w.stmtLen++
	}
	w.raw = append(w.raw, row...)
	w.stmtLen += len(row)
	w.rows++
	if w.digest {
		w.sum += rowHash(row)
	}
	return nil
}

// close ends the open INSERT, sends what is left and waits until every
// frame of the part is compressed and queued.
func (w *partWriter) close() error {
	if w.stmtLen > 0 {
		w.raw = append(w.raw, ";\n"...)
		w.stmtLen = 0
	}
	err := w.send()
	if werr := w.wait(); err == nil {
		err = werr
	}
	return err
}

// send hands the pending SQL to the part's compressor and goes on with a
// fresh buffer: reading the next rows overlaps compressing the previous
// ones (the compressor keeps the frames in order).
func (w *partWriter) send() error {
	if len(w.raw) == 0 {
		return nil
	}
	w.d.rawBytes.Add(int64(len(w.raw)))
	w.p.raw += int64(len(w.raw))
	if w.rawq == nil {
		w.rawq, w.cdone = make(chan []byte, 1), make(chan struct{})
		go w.compressor()
	}
	select {
	case w.rawq <- w.raw:
		w.raw = w.d.getBuf()
		return nil
	case <-w.cdone:
		return w.cerr
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
}

// compressor compresses the part's SQL buffers in order and queues the
// frames; it ends when rawq is closed, or at the first error (cerr).
func (w *partWriter) compressor() {
	defer close(w.cdone)
	for raw := range w.rawq {
		f, err := w.d.codec.Compress(w.d.getFrame(), raw)
		w.d.putBuf(raw)
		if err != nil {
			w.cerr = fmt.Errorf("compress: %w", err)
			return
		}
		select {
		case w.p.frames <- f:
		case <-w.ctx.Done():
			w.d.putFrame(f)
			w.cerr = context.Cause(w.ctx)
			return
		}
	}
}

// wait closes the compressor's queue and waits for it.
func (w *partWriter) wait() error {
	if w.rawq == nil {
		return nil
	}
	close(w.rawq)
	<-w.cdone
	w.rawq = nil
	return w.cerr
}
