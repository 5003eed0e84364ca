// The chunker: binary log events into chunk objects, one valid binlog file each.

package pitr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/storage"
)

// chunker turns the events of one session into stored chunks.
type chunker struct {
	a      *archiver
	ctx    context.Context
	srv    *binlog.BinlogServer
	gtid   *binlog.GTIDTracker
	target binlog.BinlogPos // Once: archive up to here

	next     binlog.BinlogPos // the end of the stored chain
	follows  binlog.BinlogPos // what the next chunk follows
	switchTo binlog.BinlogPos // the server switched files: the next chunk starts there
	fde      *binlog.FormatDescription
	inTrx    bool
	open     *openChunk
	stored   int
	// lastClose is when the previous chunk was closed (or the session
	// began): the flush interval runs from there.
	lastClose time.Time
}

// openChunk is a chunk being written.
type openChunk struct {
	base       string // object name without suffix
	follows    binlog.BinlogPos
	start, end binlog.BinlogPos
	endsFile   bool // the last complete event is a rotate or stop event
	startGTID  string
	endGTID    string
	first      time.Time // first event's timestamp
	last       time.Time // last complete event's timestamp
	max        time.Time // greatest timestamp of the complete events (format descriptions aside)
	events     int       // events written
	trx        int
	// hasData: the chunk holds more than the events that open and close
	// files (format description, Gtid_list, checkpoints, rotate, stop).
	// Only then does the flush interval close it: the others protect no
	// transaction, and a chunk of them alone is not worth an object.
	hasData    bool
	dataOffset int64
	raw        int64 // bytes of binary log written
	sha        hash.Hash
	w          *chunkWriter

	pending       []byte // events of the open transaction, not written yet
	pendingEvents int
	pendingTrx    int
	pendingLast   time.Time
	pendingMax    time.Time // greatest timestamp of the pending events
	spilled       bool      // part of the open transaction is already written
}

func (c *chunker) run(st BinlogStream) error {
	defer func() {
		if c.open != nil {
			c.open.w.abort()
			c.open = nil
		}
	}()
	flush := c.a.o.Job.Binlog.FlushInterval
	for {
		// An open chunk is closed flush after the previous chunk was (or
		// the session began), at a transaction boundary: while a
		// transaction is open, wait for it. After a quiet time the first
		// transaction is stored at once, so a chunk is at most flush old
		// and there is at most one per flush interval.
		wctx, cancel := c.ctx, context.CancelFunc(func() {})
		if c.open != nil && !c.inTrx && c.open.hasData {
			wctx, cancel = context.WithDeadline(c.ctx, c.lastClose.Add(flush))
		}
		ev, err := st.Next(wctx)
		cancel()
		if err != nil {
			switch {
			case c.ctx.Err() != nil:
				return c.stop()
			case errors.Is(err, context.DeadlineExceeded) && wctx.Err() != nil && c.open != nil:
				if err := c.closeChunk(c.open.end, ClosedByInterval); err != nil {
					return err
				}
				continue
			}
			return err
		}
		done, err := c.event(ev)
		if err != nil || done {
			return err
		}
		if c.open != nil && !c.inTrx && c.open.hasData && time.Since(c.lastClose) >= flush {
			if err := c.closeChunk(c.open.end, ClosedByInterval); err != nil {
				return err
			}
		}
	}
}

// event handles one event; done reports that Once is satisfied.
func (c *chunker) event(ev *binlog.BinlogEvent) (done bool, err error) {
	if ev.Artificial {
		switch ev.Type {
		case binlog.EventRotate:
			return false, c.rotateSeen(ev.Rotate)
		case binlog.EventFormatDesc:
			c.fde = ev.Format
		}
		return false, nil
	}
	if ev.Type == binlog.EventFormatDesc {
		c.fde = ev.Format
	}
	at := binlog.BinlogPos{File: ev.File, Pos: ev.Start}
	if c.open == nil {
		want := c.next
		if !c.switchTo.IsZero() {
			want = c.switchTo
		}
		if at != want {
			return false, fmt.Errorf("the server sent an event at %s where the archive continues at %s", at, want)
		}
		if err := c.openChunk(at); err != nil {
			return false, err
		}
	}
	o := c.open
	if err := c.gtid.Observe(ev); err != nil {
		return false, err
	}
	if !o.hasData && !fileFraming(ev.Type) {
		o.hasData = true
		now := time.Now()
		c.a.o.Status.update(func(s *ArchiveStatus) {
			if s.pendingSince.IsZero() {
				s.pendingSince = now
			}
		})
	}
	o.pending = append(o.pending, ev.Raw...)
	o.pendingEvents++
	o.pendingLast = ev.Time()
	// A format description is not a point a replay stops at (replayChunks):
	// it does not count for the chunk's greatest time.
	if ev.Type != binlog.EventFormatDesc && o.pendingLast.After(o.pendingMax) {
		o.pendingMax = o.pendingLast
	}
	if ev.GTID != "" || (ev.Type == binlog.EventGTID || ev.Type == binlog.EventAnonymousGTID) {
		o.pendingTrx++
	}
	if o.first.IsZero() {
		o.first = ev.Time()
	}
	c.inTrx = !ev.Boundary
	if ev.Boundary {
		if err := c.commitPending(); err != nil {
			return false, err
		}
		o.end = binlog.BinlogPos{File: ev.File, Pos: ev.End}
		o.endsFile = ev.Type == binlog.EventRotate || ev.Type == binlog.EventStop
		o.endGTID = c.gtid.String()
	} else if len(o.pending) > pendingLimit {
		if err := c.writePending(); err != nil {
			return false, err
		}
		o.spilled = true
	}
	switch {
	case ev.Type == binlog.EventRotate:
		if err := c.closeChunk(ev.Rotate, ClosedByRotate); err != nil {
			return false, err
		}
		c.switchTo = binlog.BinlogPos{}
	case !ev.Boundary:
	case c.a.o.Once && binlog.CompareBinlogPos(o.end, c.target) >= 0:
		return true, c.closeChunk(o.end, ClosedByOnce)
	case o.raw >= c.a.o.MaxChunkBytes:
		return false, c.closeChunk(o.end, ClosedBySize)
	}
	return false, nil
}

// fileFraming reports the events that open and close a binary log file.
func fileFraming(t byte) bool {
	switch t {
	case binlog.EventFormatDesc, binlog.EventGTIDList, binlog.EventPreviousGTIDs, binlog.EventBinlogCheckpoint, binlog.EventRotate, binlog.EventStop:
		return true
	}
	return false
}

// rotateSeen handles an artificial rotate: at the start of a dump it names
// where the stream starts; later it says the server moved on to another
// file without a rotate event at the end of the previous one (it
// restarted, or crashed, in between).
func (c *chunker) rotateSeen(to binlog.BinlogPos) error {
	cur := c.next
	if c.open != nil {
		cur = c.open.end
	}
	if !c.switchTo.IsZero() {
		cur = c.switchTo
	}
	switch {
	case to == cur:
		return nil
	case to.File != cur.File && to.Pos == 4 && binlog.CompareBinlogFiles(to.File, cur.File) > 0:
		if err := checkBinlogFileName(to.File); err != nil {
			return err
		}
		if c.inTrx {
			return fmt.Errorf("the server switched from %s to %s inside a transaction", cur, to)
		}
		c.a.log.Info("binlog: the server continues in a new file (it was restarted or its log was closed without a rotate event)", "job", c.a.o.Job.Name, "from", cur.String(), "to", to.String())
		if c.open != nil {
			if err := c.closeChunk(to, ClosedByRotate); err != nil {
				return err
			}
			return nil
		}
		c.switchTo = to
		return nil
	}
	return fmt.Errorf("the server sent a rotate to %s while the archive stands at %s", to, cur)
}

func (c *chunker) openChunk(at binlog.BinlogPos) error {
	if err := checkBinlogFileName(at.File); err != nil {
		return err
	}
	a := c.a
	o := &openChunk{
		base: chunkBase(a.bp, at), follows: c.follows, start: at, end: at,
		startGTID: c.gtid.String(), sha: sha256.New(),
	}
	o.endGTID = o.startGTID
	w, err := a.newChunkWriter(c.ctx, o.base+chunkDataSuffix(a.o.Job.Compression, len(a.recips) > 0))
	if err != nil {
		return err
	}
	o.w = w
	c.open = o
	if err := c.write(binlog.BinlogMagic); err != nil {
		return err
	}
	if at.Pos > 4 {
		if c.fde == nil {
			return fmt.Errorf("the server sent no format description before %s", at)
		}
		if err := c.write(c.fde.ForFileStart()); err != nil {
			return err
		}
	}
	o.dataOffset = o.raw
	return nil
}

func (c *chunker) write(p []byte) error {
	o := c.open
	o.sha.Write(p)
	o.raw += int64(len(p))
	return o.w.write(p)
}

// writePending moves the open transaction's events into the chunk.
func (c *chunker) writePending() error {
	o := c.open
	if len(o.pending) == 0 {
		return nil
	}
	if err := c.write(o.pending); err != nil {
		return err
	}
	o.events += o.pendingEvents
	o.pending, o.pendingEvents = o.pending[:0], 0
	return nil
}

// commitPending writes the events of a group that is now complete.
func (c *chunker) commitPending() error {
	o := c.open
	if err := c.writePending(); err != nil {
		return err
	}
	o.trx += o.pendingTrx
	o.pendingTrx = 0
	o.spilled = false
	if !o.pendingLast.IsZero() {
		o.last = o.pendingLast
	}
	if o.pendingMax.After(o.max) {
		o.max = o.pendingMax
	}
	o.pendingMax = time.Time{}
	return nil
}

// stop stores the open chunk up to its last complete transaction when the
// archiver is stopped. A transaction too large to have been held back is
// not cut: that chunk is abandoned and read again by the next run.
func (c *chunker) stop() error {
	o := c.open
	if o == nil {
		return nil
	}
	if o.spilled || o.events == 0 {
		c.a.log.Info("binlog archiver stopped inside a transaction: its chunk is not stored and will be read again from the server",
			"job", c.a.o.Job.Name, "chunk_start", o.start.String())
		return nil // run's deferred abort
	}
	c.a.log.Info("binlog archiver stopping: storing the open chunk", "job", c.a.o.Job.Name)
	return c.closeChunk(o.end, ClosedByStop)
}

// closeChunk finishes the open chunk's data, then writes its manifest. The
// chunk ends at o.end; next is where the chain continues.
func (c *chunker) closeChunk(next binlog.BinlogPos, why string) error {
	o := c.open
	a := c.a
	if o.events == 0 { // nothing complete: nothing to store
		o.w.abort()
		c.open = nil
		return nil
	}
	c.open = nil
	c.inTrx = false
	// The upload goes on when the archiver is asked to stop, for at most
	// StopGrace after that.
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.ctx))
	defer cancel()
	stopTimer := context.AfterFunc(c.ctx, func() { time.AfterFunc(a.o.StopGrace, cancel) })
	defer stopTimer()
	obj, err := o.w.finish(ctx)
	if err != nil {
		return fmt.Errorf("storing binlog chunk %s of job %s (it will be read again from the server): %w", o.start, a.o.Job.Name, err)
	}
	m := &ChunkManifest{
		Format: ChunkFormat, Kind: ChunkKind, Tool: a.o.Tool, Job: a.o.Job.Name,
		Server:  BinlogServerInfo{Version: c.srv.Version, Flavor: c.srv.Flavor, ServerID: c.srv.ServerID, BinlogFormat: c.srv.Format},
		Follows: o.follows, Start: o.start, End: o.end, Next: next, ClosedBy: why, EndsFile: o.endsFile,
		StartGTID: o.startGTID, EndGTID: o.endGTID,
		FirstEvent: o.first, LastEvent: o.last, MaxEvent: o.max, Events: o.events, Transactions: o.trx,
		DataOffset: o.dataOffset, BinlogBytes: o.raw, BinlogSHA256: hex.EncodeToString(o.sha.Sum(nil)),
		Compression: a.o.Job.Compression.OrDefault(), CompressionLevel: a.o.Job.CompressionLevel,
		Object: obj, StoredAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	if m.Tool.Name == "" {
		m.Tool.Name = "ops"
	}
	if len(a.o.Job.EncryptTo) > 0 {
		m.Encryption = &catalog.Encryption{Type: "age", Recipients: append([]string(nil), a.o.Job.EncryptTo...)}
	}
	if err := writeChunkManifest(ctx, a.o.Store, o.base+".json", m, a.key); err != nil {
		return fmt.Errorf("writing the manifest of binlog chunk %s of job %s (the chunk stays partial and is read again): %w", o.start, a.o.Job.Name, err)
	}
	c.stored++
	c.lastClose = time.Now()
	c.next, c.follows = next, next
	a.next, a.gtid, a.endsFile = next, o.endGTID, o.endsFile
	if !c.gtid.Known() {
		a.gtid = ""
	}
	a.res.Chunks++
	a.res.Events += o.events
	a.res.Bytes += obj.Size
	a.res.Position, a.res.GTID = next, a.gtid
	a.o.Status.update(func(s *ArchiveStatus) {
		s.lastEvent, s.position = latest(s.lastEvent, o.max), next
		s.pendingSince = time.Time{}
	})
	a.log.Info("binlog chunk stored", "job", a.o.Job.Name, "start", o.start.String(), "end", o.end.String(), "closed_by", why,
		"events", o.events, "transactions", o.trx, "binlog_bytes", o.raw, "stored_bytes", obj.Size,
		"last_event", o.last.Format(time.RFC3339), "max_event", o.max.Format(time.RFC3339), "object", obj.Name)
	return nil
}

// chunkWriter streams one chunk into the store while it is written:
// binary log → compressed frames → age (when encrypting) → Put.
type chunkWriter struct {
	name   string
	pw     *io.PipeWriter
	out    io.Writer
	enc    io.WriteCloser
	codec  compress.Codec
	buf    []byte
	cancel context.CancelFunc
	done   chan putResult
	err    error
	closed bool // finish or abort was called
}

type putResult struct {
	obj storage.Object
	err error
}

var errChunkAbandoned = errors.New("binlog chunk abandoned")

// newChunkWriter starts the Put of a chunk. The upload does not end with
// ctx: a stopping archiver still stores its open chunk (abort ends it).
func (a *archiver) newChunkWriter(ctx context.Context, name string) (*chunkWriter, error) {
	codec, err := a.o.Job.Compression.NewCodec(a.o.Job.CompressionLevel, 1)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	w := &chunkWriter{name: name, pw: pw, out: pw, codec: codec, cancel: cancel, done: make(chan putResult, 1)}
	go func() {
		obj, err := a.o.Store.Put(pctx, name, pr)
		pr.CloseWithError(err) // unblocks the writer when the upload failed
		w.done <- putResult{obj, err}
	}()
	if len(a.recips) > 0 {
		enc, err := age.Encrypt(pw, a.recips...)
		if err != nil {
			w.abort()
			return nil, fmt.Errorf("age: %w", err)
		}
		w.enc, w.out = enc, enc
	}
	return w, nil
}

func (w *chunkWriter) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= frameSize {
		return w.flushFrame()
	}
	return nil
}

func (w *chunkWriter) flushFrame() error {
	if len(w.buf) == 0 {
		return nil
	}
	frame, err := w.codec.Compress(nil, w.buf)
	if err == nil {
		_, err = w.out.Write(frame)
	}
	w.buf = w.buf[:0]
	if err != nil {
		w.err = fmt.Errorf("writing binlog chunk %s: %w", w.name, err)
	}
	return w.err
}

// finish completes the upload and returns the stored object.
func (w *chunkWriter) finish(ctx context.Context) (storage.Object, error) {
	if w.closed {
		return storage.Object{}, errChunkAbandoned
	}
	w.closed = true
	defer w.codec.Close()
	err := w.flushFrame()
	if err == nil && w.enc != nil {
		if err = w.enc.Close(); err != nil {
			err = fmt.Errorf("age: %w", err)
		}
	}
	if err != nil {
		w.pw.CloseWithError(err)
	} else {
		w.pw.Close()
	}
	select {
	case r := <-w.done:
		w.cancel()
		if err != nil {
			return storage.Object{}, err
		}
		return r.obj, r.err
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return storage.Object{}, fmt.Errorf("uploading %s: %w", w.name, ctx.Err())
	}
}

// abort ends the upload; nothing is left under the chunk's name.
func (w *chunkWriter) abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.pw.CloseWithError(errChunkAbandoned)
	w.cancel()
	<-w.done
	w.codec.Close()
}
