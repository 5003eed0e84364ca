package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/schedule"
)

type backupBinlogOptions struct {
	job  string
	once bool
}

func newBackupBinlogCmd(c *cli) *cobra.Command {
	var opts backupBinlogOptions
	cmd := &cobra.Command{
		Use:   "binlog",
		Short: "Archive the job's binary log continuously (point-in-time recovery)",
		Long: `Connect to the job's server as a replica and store its binary log in the job's
target, as chunks compressed and encrypted like the dumps: from where the
archive ends, or (empty archive) from the position of the newest complete
backup, or else from the server's current position.

A chunk is closed at every rotation of the server's log and at least every
binlog.flush_interval (at a transaction boundary); its manifest is written
after it, so a killed archiver never leaves a chunk that looks complete.
Each chunk is a binary log file that mariadb-binlog/mysqlbinlog reads.

Without --once it runs until SIGTERM or SIGINT, then stores the open chunk and
exits 0; after a failure (server restarted, target unreachable) it starts
again from the end of the archive. With --once it archives up to the
server's position at start and exits (for cron and tests).

Logs the server purged before they were archived are a gap: archiving goes
on from the server's oldest log, and the run exits 1 naming what is missing
and from which backup on point-in-time recovery works again; "ops backup
list --binlog" and "ops backup verify" (exit 1) report it too.

The account needs REPLICATION SLAVE, and BINLOG MONITOR (MariaDB) or
REPLICATION CLIENT (MySQL). "ops serve" runs this for every job with
binlog.enabled. Exit status: 0 ok, 1 a gap was met, 2 usage or config error,
3 failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupBinlog(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringVar(&opts.job, "job", "", "job whose server's binary log to archive")
	cmd.Flags().BoolVar(&opts.once, "once", false, "archive up to the server's current position, then exit")
	return cmd
}

func runBackupBinlog(ctx context.Context, rt *opsRuntime, opts backupBinlogOptions) error {
	job, err := rt.job(opts.job)
	if err != nil {
		return err
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	var res *pitr.ArchiveResult
	err = lockedRun(rt.locker, metrics.KindBinlog, job.Name, func() error {
		res, err = pitr.ArchiveBinlog(ctx, pitr.ArchiveOptions{
			Job: job, Store: store, Tool: toolInfo(), Logger: rt.log, Once: opts.once, Retry: !opts.once,
		})
		return err
	})
	if res != nil {
		fmt.Fprintf(rt.stdout, "%s binlog: %d chunks, %d events, %s stored; archive ends at %s", job.Name, res.Chunks, res.Events, bytesize.Human(res.Bytes), orDash(res.Position.String()))
		if res.GTID != "" {
			fmt.Fprintf(rt.stdout, " (gtid %s)", res.GTID)
		}
		fmt.Fprintln(rt.stdout)
		for _, g := range res.Gaps {
			fmt.Fprintf(rt.stdout, "GAP %s binlog %s → %s: %s\n", job.Name, g.From, g.To, g.Reason)
		}
	}
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// binlogListing is the JSON of `ops backup list --binlog`.
type binlogListing struct {
	Chunks   []*pitr.ChunkInfo   `json:"chunks"`
	Windows  []pitr.BinlogWindow `json:"windows"`
	Gaps     []pitr.BinlogGap    `json:"gaps"`
	Problems []string            `json:"problems"`
}

// runBinlogList is `ops backup list --binlog`: the chunks, the window of
// each backup and the gaps of every selected job (exit 0 even with gaps:
// `verify` is the check).
func runBinlogList(ctx context.Context, rt *opsRuntime, opts backupListOptions) error {
	jobs, err := rt.jobs(opts.jobs)
	if err != nil {
		return err
	}
	out := binlogListing{Chunks: []*pitr.ChunkInfo{}, Windows: []pitr.BinlogWindow{}, Gaps: []pitr.BinlogGap{}, Problems: []string{}}
	var chains []*pitr.BinlogChain
	for _, job := range jobs {
		store, err := rt.openStore(ctx, job)
		if err != nil {
			return err
		}
		chunks, err := pitr.ListBinlogChunks(ctx, store, job)
		if err != nil {
			return err
		}
		backups, err := backup.ListBackups(ctx, store, job, false)
		if err != nil {
			return err
		}
		ch := pitr.AnalyzeBinlog(job.Name, chunks, backups)
		chains = append(chains, ch)
		for _, c := range ch.Chunks {
			if opts.all || c.Status != catalog.StatusPartial {
				out.Chunks = append(out.Chunks, c)
			}
		}
		out.Windows = append(out.Windows, ch.Windows...)
		out.Gaps = append(out.Gaps, ch.Gaps...)
		for _, p := range ch.Problems {
			out.Problems = append(out.Problems, job.Name+": "+p)
		}
	}
	return opts.output.write(rt.stdout, jsonOf(out), func(w io.Writer) error { return writeBinlogTables(w, chains, out) })
}

func writeBinlogTables(w io.Writer, chains []*pitr.BinlogChain, out binlogListing) error {
	fmt.Fprintln(w, "ARCHIVE")
	var rows [][]string
	for _, ch := range chains {
		n, size := 0, int64(0)
		var first, last *pitr.ChunkInfo
		for _, c := range ch.Chunks {
			if !c.Complete() {
				continue
			}
			n++
			size += c.Size
			if first == nil {
				first = c
			}
			last = c
		}
		if first == nil {
			rows = append(rows, []string{ch.Job, "0", "-", "-", "-", "-", fmt.Sprint(len(ch.Gaps))})
			continue
		}
		// The greatest event time of the archive's end, not its last
		// event's: a recovery replays old events with their own time.
		_, newest := ch.End()
		rows = append(rows, []string{ch.Job, fmt.Sprint(n), bytesize.Human(size), first.Start.String(), last.Next.String(),
			fmtTime(newest), fmt.Sprint(len(ch.Gaps))})
	}
	if err := output.WriteTable(w, []string{"JOB", "CHUNKS", "SIZE", "FROM", "TO", "NEWEST EVENT", "GAPS"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nWINDOWS (point-in-time recovery from each backup)")
	rows = nil
	for _, win := range out.Windows {
		if win.Recoverable {
			rows = append(rows, []string{win.Job, win.Backup, win.From.Local().Format(time.DateTime), win.Until.Local().Format(time.DateTime),
				win.FromPosition.String(), win.UntilPosition.String(), fmt.Sprint(win.Chunks)})
		} else {
			rows = append(rows, []string{win.Job, win.Backup, win.From.Local().Format(time.DateTime), "NONE: " + win.Problem,
				win.FromPosition.String(), "-", "0"})
		}
	}
	if err := output.WriteTable(w, []string{"JOB", "BACKUP", "FROM", "UNTIL", "FROM POSITION", "UNTIL POSITION", "CHUNKS"}, rows); err != nil {
		return err
	}
	if len(out.Gaps) > 0 {
		fmt.Fprintln(w, "\nGAPS")
		rows = nil
		for _, g := range out.Gaps {
			rows = append(rows, []string{g.Job, g.From.String(), g.To.String(), fmtTime(g.FromTime), fmtTime(g.ToTime), g.Reason})
		}
		if err := output.WriteTable(w, []string{"JOB", "FROM", "TO", "LAST EVENT BEFORE", "FIRST EVENT AFTER", "REASON"}, rows); err != nil {
			return err
		}
	}
	for _, p := range out.Problems {
		fmt.Fprintln(w, "PROBLEM "+p)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// verifyBinlog is the binary log part of `ops backup verify`: run when the
// job archives its binary log (or has an archive). It prints OK or
// MISMATCH lines and returns a Check error when the backup's window is not
// usable to the end of the archive.
func (rt *opsRuntime) verifyBinlog(ctx context.Context, job backup.Job, b *catalog.BackupInfo, identity string) error {
	st, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	chunks, err := pitr.ListBinlogChunks(ctx, st, job)
	if err != nil {
		return err
	}
	if !job.Binlog.Enabled && len(chunks) == 0 {
		return nil
	}
	path := identity
	if path == "" {
		path = job.IdentityFile
	}
	var ids []age.Identity
	if path != "" {
		if ids, err = backup.LoadIdentities(path); err != nil {
			return err
		}
	}
	res, err := pitr.VerifyBinlog(ctx, st, job, b, ids)
	if err != nil {
		return err
	}
	if !res.OK() {
		for _, p := range res.Problems {
			fmt.Fprintln(rt.stdout, "MISMATCH "+p)
		}
		return exitcode.Check(fmt.Errorf("the archived binary log of job %s does not allow point-in-time recovery from backup %s to its end (%d problems)", job.Name, b.ID, len(res.Problems)))
	}
	w := res.Window
	fmt.Fprintf(rt.stdout, "OK %s %s binlog %s → %s (%s), %d chunks checked", job.Name, b.ID, w.FromPosition, w.UntilPosition, w.Until.Local().Format(time.DateTime), res.Chunks)
	if res.Decoded < res.Chunks {
		fmt.Fprintf(rt.stdout, " (%d encrypted: stored SHA-256 only; give --identity to read their events)", res.Chunks-res.Decoded)
	}
	fmt.Fprintln(rt.stdout)
	return nil
}

// binlogSupervisor runs the archiver of every job with binlog.enabled for
// `ops serve`, restarting it with a growing pause after it stops on an
// error, and reports each one to the metrics.
type binlogSupervisor struct {
	ctx       context.Context
	log       *slog.Logger
	collector *metrics.BinlogCollector

	mu   sync.Mutex
	runs map[string]*archiverRun
	wg   sync.WaitGroup
}

type archiverRun struct {
	fingerprint string
	cancel      context.CancelFunc
	done        chan struct{}
}

func newBinlogSupervisor(ctx context.Context, log *slog.Logger, c *metrics.BinlogCollector) *binlogSupervisor {
	return &binlogSupervisor{ctx: ctx, log: log, collector: c, runs: map[string]*archiverRun{}}
}

// reconcile starts the archivers rt's config asks for, and stops those whose
// job was removed or changed (a changed one starts again with the new
// config once the old one has stored its open chunk). It does not wait.
func (s *binlogSupervisor) reconcile(rt *opsRuntime) {
	want := map[string]backup.Job{}
	for _, j := range rt.cfg.Backup.Jobs {
		if j.Binlog.Enabled {
			want[j.Name] = j
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range s.runs {
		if j, ok := want[name]; ok && r.fingerprint == jobFingerprint(rt, j) {
			delete(want, name)
			continue
		}
		r.cancel()
		if _, ok := want[name]; !ok {
			delete(s.runs, name)
			s.collector.Remove(name)
		}
	}
	for _, name := range sortedKeys(want) {
		job := want[name]
		var prev <-chan struct{}
		if old := s.runs[name]; old != nil {
			prev = old.done
		}
		ctx, cancel := context.WithCancel(s.ctx)
		r := &archiverRun{fingerprint: jobFingerprint(rt, job), cancel: cancel, done: make(chan struct{})}
		s.runs[name] = r
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(r.done)
			if prev != nil {
				<-prev // the old archiver of this job stores its chunk and releases the lock
			}
			s.run(ctx, rt, job)
		}()
	}
}

// stop ends every archiver and waits until each has stored its open chunk.
func (s *binlogSupervisor) stop() {
	s.mu.Lock()
	for _, r := range s.runs {
		r.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func jobFingerprint(rt *opsRuntime, j backup.Job) string {
	return fmt.Sprintf("%#v %#v", j, rt.cfg.Storage.Targets[j.Target])
}

// run keeps one job's archiver going until ctx ends.
func (s *binlogSupervisor) run(ctx context.Context, rt *opsRuntime, job backup.Job) {
	status := &pitr.ArchiveStatus{}
	s.collector.Set(job.Name, func() metrics.BinlogState {
		st, now := status.State(), time.Now()
		return metrics.BinlogState{LastEvent: st.LastEvent, Lag: st.Lag(now), Silent: st.Silent(now), Gaps: st.Gaps}
	})
	backoff := 5 * time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := lockedRun(rt.locker, metrics.KindBinlog, job.Name, func() error {
			store, err := rt.openStore(ctx, job)
			if err != nil {
				return err
			}
			_, err = pitr.ArchiveBinlog(ctx, pitr.ArchiveOptions{
				Job: job, Store: store, Tool: toolInfo(), Logger: rt.log, Retry: true, Status: status,
			})
			return err
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Minute {
			backoff = 5 * time.Second
		}
		level := slog.LevelError
		if errors.Is(err, schedule.ErrLocked) {
			level = slog.LevelWarn
		}
		msg := "binlog archiver stopped; restarting it"
		if errors.Is(err, binlog.ErrBinlogPrerequisite) {
			msg = "binlog archiver cannot run (fix the server or the account, see the error); trying again"
		}
		s.log.Log(ctx, level, msg, "job", job.Name, "retry_in", backoff.String(), "error", errString(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

func errString(err error) string {
	if err == nil {
		return "stopped"
	}
	return strings.TrimSpace(err.Error())
}
