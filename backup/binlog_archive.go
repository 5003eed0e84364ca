package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql"
	"github.com/opsteam/ops/backup/storage"
)

// BinlogSource is where the archiver reads the binary log from: the
// engine's *mysql.BinlogSource (through EngineBinlogSource); tests pass
// fakes.
type BinlogSource interface {
	Inspect(ctx context.Context) (*mysql.BinlogServer, error)
	GTIDAt(ctx context.Context, p mysql.BinlogPos) (string, error)
	Stream(ctx context.Context, from mysql.BinlogPos) (BinlogStream, error)
	Close() error
}

// BinlogStream is one replication connection (see mysql.BinlogStream).
type BinlogStream interface {
	Next(ctx context.Context) (*mysql.BinlogEvent, error)
	Close()
}

// EngineBinlogSource adapts the engine's source to BinlogSource.
type EngineBinlogSource struct{ *mysql.BinlogSource }

// Stream implements BinlogSource.
func (e EngineBinlogSource) Stream(ctx context.Context, from mysql.BinlogPos) (BinlogStream, error) {
	return e.BinlogSource.Stream(ctx, from)
}

// ArchiveOptions configure the binary log archiver of one job.
type ArchiveOptions struct {
	Job    Job
	Store  storage.Store
	Tool   ToolInfo
	Logger *slog.Logger
	// Once archives up to the server's position when the archiver
	// started, then returns.
	Once bool
	// Retry keeps the archiver going after a failure (the server
	// restarted, the target unreachable…): it starts again, after a
	// growing pause, from the end of what it stored. Prerequisite errors
	// (mysql.ErrBinlogPrerequisite) and a chain it refuses to extend
	// (ErrChainBroken) are still returned.
	Retry bool
	// OpenSource connects to the job's server; the engine when nil.
	OpenSource func(ctx context.Context) (BinlogSource, error)
	// Status, when set, is kept up to date for metrics.
	Status *ArchiveStatus
	// MaxChunkBytes closes a chunk that reaches this size (uncompressed)
	// at the next transaction boundary (0 = 128 MiB).
	MaxChunkBytes int64
	// StopGrace bounds the upload of the open chunk after a stop
	// (0 = 1 minute); past it the chunk is abandoned (it is read again
	// from the server by the next run).
	StopGrace time.Duration
	// RetryDelay is the first pause before starting again after a failure
	// (0 = 1s); it doubles up to a minute, and starts over after progress.
	RetryDelay time.Duration
}

// ArchiveResult says what one run of the archiver stored.
type ArchiveResult struct {
	Chunks   int             // chunks stored
	Events   int             // events in them
	Bytes    int64           // bytes stored
	Position mysql.BinlogPos // where the archive ends now
	GTID     string          // the GTID position there
	Gaps     []BinlogGap     // gaps met (logs purged before they were archived)
}

// ArchiveStatus is the archiver's state for metrics; safe for concurrent use.
type ArchiveStatus struct {
	mu           sync.Mutex
	lastEvent    time.Time // timestamp of the newest stored event (server clock)
	pendingSince time.Time // when the oldest event not yet stored was received (zero: none)
	position     mysql.BinlogPos
	running      bool
}

// ArchiveState is a snapshot of an ArchiveStatus.
type ArchiveState struct {
	// LastEvent is the timestamp of the newest archived event.
	LastEvent time.Time
	// PendingSince is when the oldest event received but not yet stored
	// arrived (zero when every received event is stored).
	PendingSince time.Time
	Position     mysql.BinlogPos
	Running      bool
}

// Lag is how long the oldest event not yet stored has waited (0 when none).
func (s ArchiveState) Lag(now time.Time) time.Duration {
	if s.PendingSince.IsZero() {
		return 0
	}
	return max(now.Sub(s.PendingSince), 0)
}

// State returns a snapshot.
func (s *ArchiveStatus) State() ArchiveState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ArchiveState{LastEvent: s.lastEvent, PendingSince: s.pendingSince, Position: s.position, Running: s.running}
}

func (s *ArchiveStatus) update(fn func(s *ArchiveStatus)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

const (
	defaultMaxChunkBytes = 128 << 20
	frameSize            = 1 << 20 // uncompressed bytes per compressed frame
	maxBackoff           = time.Minute
)

// pendingLimit: a transaction larger than this is written into the chunk
// before it is complete (the chunk then cannot be cut before the
// transaction ends; at a stop it is abandoned and read again). A variable
// for tests.
var pendingLimit = 16 << 20

// ArchiveBinlog streams the job's binary log into its target as chunks:
// from where the archive ends (the Next of its newest complete chunk), or,
// for an empty archive, from the binary log position of the newest
// complete backup, or else from the server's current position. A chunk is
// closed at every rotation of the server's log, at the first transaction
// boundary once flush_interval has passed since the previous one was
// closed, at 128 MiB, and when the archiver stops;
// its manifest is written after its data. It runs until ctx ends (then
// the open chunk is stored and nil returned) or, with Once, until the
// server's position at the start is archived.
//
// A binary log the server purged before it was archived is a gap: the
// archiver logs it as an error and goes on from the server's oldest log;
// the chain analysis (AnalyzeBinlog) reports it. Nothing is ever skipped
// silently.
func ArchiveBinlog(ctx context.Context, o ArchiveOptions) (*ArchiveResult, error) {
	a, err := newArchiver(o)
	if err != nil {
		return nil, err
	}
	o.Status.update(func(s *ArchiveStatus) { s.running = true })
	defer o.Status.update(func(s *ArchiveStatus) { s.running = false })
	first := o.RetryDelay
	if first <= 0 {
		first = time.Second
	}
	backoff := first
	for {
		progressed, err := a.session(ctx)
		if err == nil || ctx.Err() != nil {
			return a.res, nil
		}
		if !o.Retry || errors.Is(err, mysql.ErrBinlogPrerequisite) || errors.Is(err, ErrChainBroken) {
			return a.res, err
		}
		if progressed {
			backoff = first
		}
		a.log.Error("binlog archiver failed; starting again from the end of the archive", "job", o.Job.Name, "retry_in", backoff.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return a.res, nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// archiver is the state of one ArchiveBinlog call.
type archiver struct {
	o      ArchiveOptions
	log    *slog.Logger
	recips []age.Recipient
	key    []byte
	bp     string // the job's binlog prefix
	res    *ArchiveResult

	// The end of the stored chain, known after the first session.
	known    bool
	next     mysql.BinlogPos
	gtid     string // GTID position at next ("" = unknown)
	endsFile bool   // the archive ends with the end of a file (rotate or stop event)
	warned   bool   // prerequisite warnings logged
	started  bool   // where it started from was logged
}

func newArchiver(o ArchiveOptions) (*archiver, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxChunkBytes <= 0 {
		o.MaxChunkBytes = defaultMaxChunkBytes
	}
	if o.StopGrace <= 0 {
		o.StopGrace = time.Minute
	}
	if o.OpenSource == nil {
		job := o.Job
		o.OpenSource = func(ctx context.Context) (BinlogSource, error) {
			src, err := mysql.OpenBinlogSource(ctx, job.MySQL, mysql.BinlogSourceOptions{Name: job.Name, Logger: o.Logger})
			if err != nil {
				return nil, err
			}
			return EngineBinlogSource{src}, nil
		}
	}
	recips, err := ParseRecipients(o.Job.EncryptTo)
	if err != nil {
		return nil, err
	}
	key, err := o.Job.manifestKey()
	if err != nil {
		return nil, err
	}
	return &archiver{o: o, log: o.Logger, recips: recips, key: key, bp: BinlogPrefix(o.Job.Prefix, o.Job.Name), res: &ArchiveResult{}}, nil
}

// session connects, streams and stores until ctx ends, Once is satisfied
// or something fails. progressed reports that a chunk was stored.
func (a *archiver) session(ctx context.Context) (progressed bool, err error) {
	src, err := a.o.OpenSource(ctx)
	if err != nil {
		return false, err
	}
	defer src.Close()
	srv, err := src.Inspect(ctx)
	if err != nil {
		return false, err
	}
	if !a.warned {
		for _, w := range srv.Warnings {
			a.log.Warn(w, "job", a.o.Job.Name)
		}
		a.warned = true
	}
	from, follows, err := a.startPosition(ctx, src, srv)
	if err != nil {
		return false, err
	}
	target := srv.Current
	if mysql.CompareBinlogPos(from, target) > 0 {
		return false, fmt.Errorf("the archive of job %s ends at %s, after the server's current position %s: the server's binary log was reset (RESET MASTER) or this is another server; archive into another prefix: %w",
			a.o.Job.Name, from, target, ErrChainBroken)
	}
	if a.o.Once && mysql.CompareBinlogPos(from, target) >= 0 {
		a.log.Info("binlog archive is up to date", "job", a.o.Job.Name, "position", from.String())
		a.res.Position, a.res.GTID = from, a.gtid
		return false, nil
	}
	gt, err := a.gtidTracker(ctx, src, srv, from)
	if err != nil {
		return false, err
	}
	st, err := src.Stream(ctx, from)
	if err != nil {
		return false, err
	}
	defer st.Close()
	c := &chunker{a: a, ctx: ctx, srv: srv, next: from, follows: follows, gtid: gt, target: target, lastClose: time.Now()}
	err = c.run(st)
	return c.stored > 0, err
}

// startPosition decides where this session streams from, and what the
// first chunk follows (the same position unless a gap is crossed).
func (a *archiver) startPosition(ctx context.Context, src BinlogSource, srv *mysql.BinlogServer) (from, follows mysql.BinlogPos, err error) {
	why := "the end of the archive"
	if !a.known {
		last, err := binlogChainEnd(ctx, a.o.Store, a.o.Job)
		if err != nil {
			return from, follows, err
		}
		switch {
		case last != nil:
			a.next, a.gtid, a.endsFile = last.Next, last.EndGTID, last.ManifestData().EndsFile
			a.o.Status.update(func(s *ArchiveStatus) { s.lastEvent, s.position = last.LastEvent, last.Next })
		default:
			b, err := newestBackupWithPosition(ctx, a.o.Store, a.o.Job)
			if err != nil {
				return from, follows, err
			}
			if b != nil {
				m := b.ManifestData()
				a.next = mysql.BinlogPos{File: m.Consistency.BinlogFile, Pos: m.Consistency.BinlogPos}
				a.gtid = m.Consistency.GTID
				why = "the position of backup " + b.ID + " (the archive is empty)"
			} else {
				a.next, a.gtid = srv.Current, srv.GTID
				why = "the server's current position (the archive is empty and the job has no backup with a binlog position)"
			}
		}
		a.known = true
	}
	from, follows = a.next, a.next
	if err := checkBinlogFileName(from.File); err != nil {
		return from, follows, err
	}
	if !srv.Has(from.File) {
		oldest := srv.Oldest()
		switch {
		case oldest.IsZero() || mysql.CompareBinlogPos(oldest, from) < 0:
			return from, follows, fmt.Errorf("the server has no binary log %s, and its logs (%s…) do not come after it: was its binary log reset? archive into another prefix: %w",
				from.File, oldest.File, ErrChainBroken)
		case a.endsFile && from.Pos > 4 && oldest == (mysql.BinlogPos{File: mysql.NextBinlogFile(from.File), Pos: 4}):
			// The archive holds all of the purged file (it ended with a
			// stop event, the server restarted): the next file follows.
			from, a.next, a.gtid = oldest, oldest, ""
		default:
			gap := BinlogGap{Job: a.o.Job.Name, From: from, To: oldest, Reason: "purged on the server before it was archived"}
			a.res.Gaps = append(a.res.Gaps, gap)
			a.log.Error("binlog gap: the server purged binary logs that were not archived yet; archiving goes on from its oldest log. Points in time in the gap cannot be recovered; take a new backup",
				"job", a.o.Job.Name, "missing_from", from.String(), "resumed_at", oldest.String())
			from, follows = oldest, oldest // not continuous: the chain shows the gap
			a.next, a.gtid = oldest, ""
		}
	}
	if !a.started {
		a.log.Info("binlog archiver started", "job", a.o.Job.Name, "from", from.String(), "because", why,
			"server", srv.Version, "server_id", srv.ServerID, "binlog_format", srv.Format, "server_position", srv.Current.String(), "target", a.o.Store.String())
		a.started = true
	}
	return from, follows, nil
}

// newestBackupWithPosition is the newest complete backup of the job that
// recorded a binary log position.
func newestBackupWithPosition(ctx context.Context, s storage.Store, job Job) (*BackupInfo, error) {
	list, err := ListBackups(ctx, s, job, false)
	if err != nil {
		return nil, err
	}
	for _, b := range list {
		if m := b.ManifestData(); m != nil && m.Consistency.BinlogFile != "" && m.Consistency.BinlogPos >= 4 {
			return b, nil
		}
	}
	return nil, nil
}

// gtidTracker starts following GTIDs at from.
func (a *archiver) gtidTracker(ctx context.Context, src BinlogSource, srv *mysql.BinlogServer, from mysql.BinlogPos) (*mysql.GTIDTracker, error) {
	state, known := a.gtid, a.gtid != ""
	if !known && from.Pos > 4 {
		if g, err := src.GTIDAt(ctx, from); err == nil && g != "" {
			state, known = g, true
		}
	}
	t, err := mysql.NewGTIDTracker(srv.Flavor, state, known)
	if err != nil { // a GTID position we cannot parse: follow from the next file start
		a.log.Warn("binlog archiver: GTID position not understood; chunk GTIDs are recorded from the next binary log file on", "gtid", state, "error", err.Error())
		return mysql.NewGTIDTracker(srv.Flavor, "", false)
	}
	return t, nil
}

// chunker turns the events of one session into stored chunks.
type chunker struct {
	a      *archiver
	ctx    context.Context
	srv    *mysql.BinlogServer
	gtid   *mysql.GTIDTracker
	target mysql.BinlogPos // Once: archive up to here

	next     mysql.BinlogPos // the end of the stored chain
	follows  mysql.BinlogPos // what the next chunk follows
	switchTo mysql.BinlogPos // the server switched files: the next chunk starts there
	fde      *mysql.FormatDescription
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
	follows    mysql.BinlogPos
	start, end mysql.BinlogPos
	endsFile   bool // the last complete event is a rotate or stop event
	startGTID  string
	endGTID    string
	first      time.Time // first event's timestamp
	last       time.Time // last complete event's timestamp
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
	spilled       bool // part of the open transaction is already written
}

func (c *chunker) run(st BinlogStream) error {
	defer func() {
		if c.open != nil {
			c.open.w.abort()
			c.open = nil
		}
	}()
	flush := c.a.o.Job.Binlog.flushInterval()
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
func (c *chunker) event(ev *mysql.BinlogEvent) (done bool, err error) {
	if ev.Artificial {
		switch ev.Type {
		case mysql.EventRotate:
			return false, c.rotateSeen(ev.Rotate)
		case mysql.EventFormatDesc:
			c.fde = ev.Format
		}
		return false, nil
	}
	if ev.Type == mysql.EventFormatDesc {
		c.fde = ev.Format
	}
	at := mysql.BinlogPos{File: ev.File, Pos: ev.Start}
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
	if ev.GTID != "" || (ev.Type == mysql.EventGTID || ev.Type == mysql.EventAnonymousGTID) {
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
		o.end = mysql.BinlogPos{File: ev.File, Pos: ev.End}
		o.endsFile = ev.Type == mysql.EventRotate || ev.Type == mysql.EventStop
		o.endGTID = c.gtid.String()
	} else if len(o.pending) > pendingLimit {
		if err := c.writePending(); err != nil {
			return false, err
		}
		o.spilled = true
	}
	switch {
	case ev.Type == mysql.EventRotate:
		if err := c.closeChunk(ev.Rotate, ClosedByRotate); err != nil {
			return false, err
		}
		c.switchTo = mysql.BinlogPos{}
	case !ev.Boundary:
	case c.a.o.Once && mysql.CompareBinlogPos(o.end, c.target) >= 0:
		return true, c.closeChunk(o.end, ClosedByOnce)
	case o.raw >= c.a.o.MaxChunkBytes:
		return false, c.closeChunk(o.end, ClosedBySize)
	}
	return false, nil
}

// fileFraming reports the events that open and close a binary log file.
func fileFraming(t byte) bool {
	switch t {
	case mysql.EventFormatDesc, mysql.EventGTIDList, mysql.EventPreviousGTIDs, mysql.EventBinlogCheckpoint, mysql.EventRotate, mysql.EventStop:
		return true
	}
	return false
}

// rotateSeen handles an artificial rotate: at the start of a dump it names
// where the stream starts; later it says the server moved on to another
// file without a rotate event at the end of the previous one (it
// restarted, or crashed, in between).
func (c *chunker) rotateSeen(to mysql.BinlogPos) error {
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
	case to.File != cur.File && to.Pos == 4 && mysql.CompareBinlogFiles(to.File, cur.File) > 0:
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

func (c *chunker) openChunk(at mysql.BinlogPos) error {
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
	if err := c.write(mysql.BinlogMagic); err != nil {
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
func (c *chunker) closeChunk(next mysql.BinlogPos, why string) error {
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
		FirstEvent: o.first, LastEvent: o.last, Events: o.events, Transactions: o.trx,
		DataOffset: o.dataOffset, BinlogBytes: o.raw, BinlogSHA256: hex.EncodeToString(o.sha.Sum(nil)),
		Compression: a.o.Job.Compression.OrDefault(), CompressionLevel: a.o.Job.CompressionLevel,
		Object: obj, StoredAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	if m.Tool.Name == "" {
		m.Tool.Name = "ops"
	}
	if len(a.o.Job.EncryptTo) > 0 {
		m.Encryption = &Encryption{Type: "age", Recipients: append([]string(nil), a.o.Job.EncryptTo...)}
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
		s.lastEvent, s.position = o.last, next
		s.pendingSince = time.Time{}
	})
	a.log.Info("binlog chunk stored", "job", a.o.Job.Name, "start", o.start.String(), "end", o.end.String(), "closed_by", why,
		"events", o.events, "transactions", o.trx, "binlog_bytes", o.raw, "stored_bytes", obj.Size,
		"last_event", o.last.Format(time.RFC3339), "object", obj.Name)
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
