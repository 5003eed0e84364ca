package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/storage"
)

// BinlogSource is where the archiver reads the binary log from: the
// engine's *binlog.BinlogSource (through EngineBinlogSource); tests pass
// fakes.
type BinlogSource interface {
	Inspect(ctx context.Context) (*binlog.BinlogServer, error)
	GTIDAt(ctx context.Context, p binlog.BinlogPos) (string, error)
	Stream(ctx context.Context, from binlog.BinlogPos) (BinlogStream, error)
	Close() error
}

// BinlogStream is one replication connection (see binlog.BinlogStream).
type BinlogStream interface {
	Next(ctx context.Context) (*binlog.BinlogEvent, error)
	Close()
}

// EngineBinlogSource adapts the engine's source to BinlogSource.
type EngineBinlogSource struct{ *binlog.BinlogSource }

// Stream implements BinlogSource.
func (e EngineBinlogSource) Stream(ctx context.Context, from binlog.BinlogPos) (BinlogStream, error) {
	return e.BinlogSource.Stream(ctx, from)
}

// ArchiveOptions configure the binary log archiver of one job.
type ArchiveOptions struct {
	Job    backup.Job
	Store  storage.Store
	Tool   catalog.ToolInfo
	Logger *slog.Logger
	// Once archives up to the server's position when the archiver
	// started, then returns.
	Once bool
	// Retry keeps the archiver going after a failure (the server
	// restarted, the target unreachable…): it starts again, after a
	// growing pause, from the end of what it stored. Prerequisite errors
	// (binlog.ErrBinlogPrerequisite) and a chain it refuses to extend
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
	// SilenceWarn (0 = DefaultSilenceWarn) is how long the source may stay
	// silent (no event, no heartbeat) before the archiver warns, and then
	// again at every further SilenceWarn (see watchSilence).
	SilenceWarn time.Duration
}

// ArchiveResult says what one run of the archiver stored.
type ArchiveResult struct {
	Chunks   int              // chunks stored
	Events   int              // events in them
	Bytes    int64            // bytes stored
	Position binlog.BinlogPos // where the archive ends now
	GTID     string           // the GTID position there
	Gaps     []BinlogGap      // gaps met (logs purged before they were archived)
}

// ArchiveStatus is the archiver's state for metrics; safe for concurrent use.
type ArchiveStatus struct {
	mu           sync.Mutex
	lastEvent    time.Time // timestamp of the newest stored event (server clock)
	pendingSince time.Time // when the oldest event not yet stored was received (zero: none)
	position     binlog.BinlogPos
	running      bool
	gaps         int       // gaps met since the archiver started
	lastHeard    time.Time // when the source last answered (an event, a heartbeat, a new connection)
}

// ArchiveState is a snapshot of an ArchiveStatus.
type ArchiveState struct {
	// LastEvent is the greatest timestamp of the archived events (not the
	// last one's: a recovery replays old events into the binary log).
	LastEvent time.Time
	// PendingSince is when the oldest event received but not yet stored
	// arrived (zero when every received event is stored).
	PendingSince time.Time
	Position     binlog.BinlogPos
	Running      bool
	// Gaps counts the gaps (logs purged before they were archived) met
	// since the archiver started.
	Gaps int
	// LastHeard is when the source last answered: an event, a heartbeat
	// or a new connection (zero before the archiver started).
	LastHeard time.Time
}

// Silent is how long the source has been silent (0 when the archiver is
// not running or has not started).
func (s ArchiveState) Silent(now time.Time) time.Duration {
	if !s.Running || s.LastHeard.IsZero() {
		return 0
	}
	return max(now.Sub(s.LastHeard), 0)
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
	return ArchiveState{LastEvent: s.lastEvent, PendingSince: s.pendingSince, Position: s.position, Running: s.running, Gaps: s.gaps, LastHeard: s.lastHeard}
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
// the chain analysis (AnalyzeBinlog) reports it, and the run returns a
// *GapError (ErrBinlogGap) when it ends. Nothing is ever skipped silently.
func ArchiveBinlog(ctx context.Context, o ArchiveOptions) (*ArchiveResult, error) {
	if o.Job.Binlog.FlushInterval <= 0 {
		// the job's config gives 1s to 1h (DefaultJob: 1m); a job built by
		// hand must say it too
		return nil, fmt.Errorf("job %s: binlog flush interval %s: it must be positive", o.Job.Name, o.Job.Binlog.FlushInterval)
	}
	a, err := newArchiver(o)
	if err != nil {
		return nil, err
	}
	o.Status.update(func(s *ArchiveStatus) { s.running = true })
	defer o.Status.update(func(s *ArchiveStatus) { s.running = false })
	a.heard()
	defer a.watchSilence(ctx)()
	first := o.RetryDelay
	if first <= 0 {
		first = time.Second
	}
	backoff := first
	for {
		progressed, err := a.session(ctx)
		if err == nil || ctx.Err() != nil {
			return a.res, a.gapError(ctx)
		}
		if !o.Retry || errors.Is(err, binlog.ErrBinlogPrerequisite) || errors.Is(err, ErrChainBroken) {
			return a.res, err
		}
		if progressed {
			backoff = first
		}
		a.log.Error("binlog archiver failed; starting again from the end of the archive", "job", o.Job.Name, "retry_in", backoff.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return a.res, a.gapError(ctx)
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
	next     binlog.BinlogPos
	gtid     string // GTID position at next ("" = unknown)
	endsFile bool   // the archive ends with the end of a file (rotate or stop event)
	warned   bool   // prerequisite warnings logged
	started  bool   // where it started from was logged

	silence   sync.Mutex
	lastHeard time.Time // when the source last answered (see watchSilence)
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
			src, err := binlog.OpenBinlogSource(ctx, job.MySQL, binlog.BinlogSourceOptions{Name: job.Name, Logger: o.Logger})
			if err != nil {
				return nil, err
			}
			return EngineBinlogSource{src}, nil
		}
	}
	recips, err := backup.ParseRecipients(o.Job.EncryptTo)
	if err != nil {
		return nil, err
	}
	key, err := o.Job.ManifestKeyForWriting(o.Logger)
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
	a.heard()
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
	if binlog.CompareBinlogPos(from, target) > 0 {
		return false, fmt.Errorf("the archive of job %s ends at %s, after the server's current position %s: the server's binary log was reset (RESET MASTER) or this is another server; archive into another prefix: %w",
			a.o.Job.Name, from, target, ErrChainBroken)
	}
	if a.o.Once && binlog.CompareBinlogPos(from, target) >= 0 {
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
	st = heardStream{st, a}
	c := &chunker{a: a, ctx: ctx, srv: srv, next: from, follows: follows, gtid: gt, target: target, lastClose: time.Now()}
	err = c.run(st)
	return c.stored > 0, err
}

// startPosition decides where this session streams from, and what the
// first chunk follows (the same position unless a gap is crossed).
func (a *archiver) startPosition(ctx context.Context, src BinlogSource, srv *binlog.BinlogServer) (from, follows binlog.BinlogPos, err error) {
	why := "the end of the archive"
	if !a.known {
		last, err := binlogChainEnd(ctx, a.o.Store, a.o.Job)
		if err != nil {
			return from, follows, err
		}
		switch {
		case last != nil:
			a.next, a.gtid, a.endsFile = last.Next, last.EndGTID, last.ManifestData().EndsFile
			a.o.Status.update(func(s *ArchiveStatus) { s.lastEvent, s.position = last.Newest(), last.Next })
		default:
			b, err := newestBackupWithPosition(ctx, a.o.Store, a.o.Job)
			if err != nil {
				return from, follows, err
			}
			if b != nil {
				m := b.ManifestData()
				a.next = binlog.BinlogPos{File: m.Consistency.BinlogFile, Pos: m.Consistency.BinlogPos}
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
		case oldest.IsZero() || binlog.CompareBinlogPos(oldest, from) < 0:
			return from, follows, fmt.Errorf("the server has no binary log %s, and its logs (%s…) do not come after it: was its binary log reset? archive into another prefix: %w",
				from.File, oldest.File, ErrChainBroken)
		case a.endsFile && from.Pos > 4 && oldest == (binlog.BinlogPos{File: binlog.NextBinlogFile(from.File), Pos: 4}):
			// The archive holds all of the purged file (it ended with a
			// stop event, the server restarted): the next file follows.
			from, a.next, a.gtid = oldest, oldest, ""
		default:
			gap := BinlogGap{Job: a.o.Job.Name, From: from, To: oldest, Reason: "purged on the server before it was archived"}
			a.res.Gaps = append(a.res.Gaps, gap)
			a.o.Status.update(func(s *ArchiveStatus) { s.gaps++ })
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
func newestBackupWithPosition(ctx context.Context, s storage.Store, job backup.Job) (*catalog.BackupInfo, error) {
	list, err := backup.ListBackups(ctx, s, job, false)
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
func (a *archiver) gtidTracker(ctx context.Context, src BinlogSource, srv *binlog.BinlogServer, from binlog.BinlogPos) (*binlog.GTIDTracker, error) {
	state, known := a.gtid, a.gtid != ""
	if !known && from.Pos > 4 {
		if g, err := src.GTIDAt(ctx, from); err == nil && g != "" {
			state, known = g, true
		}
	}
	t, err := binlog.NewGTIDTracker(srv.Flavor, state, known)
	if err != nil { // a GTID position we cannot parse: follow from the next file start
		a.log.Warn("binlog archiver: GTID position not understood; chunk GTIDs are recorded from the next binary log file on", "gtid", state, "error", err.Error())
		return binlog.NewGTIDTracker(srv.Flavor, "", false)
	}
	return t, nil
}
