package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/replay"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// PITROptions configure a point-in-time restore. The embedded options are
// those of RestoreBackup (Backup is chosen by the restore).
type PITROptions struct {
	backup.BackupRestoreOptions
	Job   backup.Job
	Point RestorePoint
	// BinlogTool and Client override mariadb-binlog and mariadb (tests).
	BinlogTool, Client string
	// TempDir holds the chunks while they are replayed (os.TempDir when empty).
	TempDir string
	// ReplayMode is replay.ModeBatched (when empty) or replay.ModeStock.
	ReplayMode string
	// ReplayProgress, when set, is called as the replay commits on the
	// target: how far it got, of total source groups to apply.
	ReplayProgress func(applied replay.Applied, total int)
}

// PITRResult is what a point-in-time restore did.
type PITRResult struct {
	Backup  *catalog.BackupInfo
	Restore *restore.RestoreResult
	// From is the backup's binary log position, where the replay started;
	// StoppedAt the position of the first event not applied (zero when
	// the replay applied everything archived) and StopTime its timestamp.
	From      binlog.BinlogPos
	StoppedAt binlog.BinlogPos
	StopTime  time.Time
	// LastApplied is the end of the last applied event: of the last group
	// committed on the target when Committed is set (the batched replay),
	// else of the last event passed on to the stock client.
	LastApplied binlog.BinlogPos
	Committed   bool
	// Applied counts the groups (transactions, statements) committed on the
	// target when Committed is set.
	Applied int
	// Uncertain says why the batched replay could not tell, after a
	// failure, whether its last commit happened.
	Uncertain string
	Chunks    int
	Stats     replay.ReplayStats
	Replay    time.Duration
}

// RestorePointInTime restores the newest complete backup before the point
// (with every safeguard of RestoreBackup), then replays the archived
// binary log from the backup's position up to the point, for the restored
// databases only. Before the target is touched, every chunk needed is
// fetched and checked against its manifest and the whole replay is
// filtered once: a point that cannot be reached, a tampered chunk, or a
// statement that cannot be applied to the restored databases only fails
// the restore before it starts.
func RestorePointInTime(ctx context.Context, o PITROptions) (*PITRResult, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Point == nil {
		return nil, errors.New("point-in-time restore: no restore point")
	}
	backups, err := backup.ListBackups(ctx, o.Store, o.Job, true)
	if err != nil {
		return nil, err
	}
	chunks, err := ListBinlogChunks(ctx, o.Store, o.Job)
	if err != nil {
		return nil, err
	}
	chain := AnalyzeBinlog(o.Job.Name, chunks, backups)
	b, w, err := chain.choose(backups, o.Point)
	if err != nil {
		return nil, err
	}
	m := b.ManifestData()
	mapping := o.Databases
	if len(mapping) == 0 {
		mapping = map[string]string{}
		for _, db := range m.Databases {
			mapping[db] = db
		}
	}
	need := chain.replayChunks(w.FromPosition, o.Point)
	checkStart := time.Now()
	dir, err := os.MkdirTemp(o.TempDir, "ops-pitr-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files, err := fetchChunks(ctx, o, need, dir)
	if err != nil {
		return nil, fmt.Errorf("point-in-time restore: nothing was restored: %w", err)
	}
	res := &PITRResult{Backup: b, From: w.FromPosition, Chunks: len(need)}
	known := append([]string(nil), m.Databases...)
	for _, x := range backups {
		known = append(known, x.Databases...)
	}
	check := mapping
	if o.Replace {
		// The replay may write into new copies under temporary names
		// (decided by the restore): checked as if every target were
		// renamed, so a statement that names its database explicitly is
		// refused now rather than after the restore.
		check = map[string]string{}
		for src, dst := range mapping {
			check[src] = dst + "__ops_new"
		}
	}
	if err := replayChunks(ctx, need, files, w.FromPosition, o.Point, replay.NewReplayFilter(check, known), nil, res); err != nil {
		return nil, fmt.Errorf("point-in-time restore: nothing was restored: %w", err)
	}
	if o.Point.stopArchived() && res.StoppedAt.IsZero() {
		// The window said an event at or after the point is archived (a
		// chunk manifest's times); the events say otherwise.
		return nil, &NotRecoverableError{Point: o.Point, Why: fmt.Sprintf("the archived binary log from backup %s (%s) has no event at or after it, although its chunk manifests say so (ops backup verify checks them): nothing was restored",
			b.ID, w.FromPosition)}
	}
	o.Logger.Info("point-in-time restore: replay checked", "backup", b.ID, "from", w.FromPosition.String(),
		"chunks", len(need), "transactions", res.Stats.Groups, "stop", res.StoppedAt.String(),
		"duration", time.Since(checkStart).Round(time.Millisecond).String())
	ro := o.BackupRestoreOptions
	ro.Backup, ro.Databases = b, mapping
	// With --replace the new copies stay under their temporary names until
	// the replay into them succeeded: a failed replay leaves the originals
	// as they were.
	ro.DeferSwap = o.Replace
	rres, err := backup.RestoreBackup(ctx, ro)
	if err != nil {
		return nil, err
	}
	res.Restore = rres
	written := mapping
	if o.Replace {
		written = writtenMapping(mapping, rres.Written)
	}
	if err := replayAndSwap(ctx, o, res, b, w.FromPosition, need, files, known, written); err != nil {
		return nil, err
	}
	return res, nil
}

// replayAndSwap replays the chunks into the restored databases (written:
// SRC → the name each was written under) and then, with --replace, swaps
// the new copies in. On failure it drops what the restore created (keeps
// it with KeepPartial): an original is never replaced by a copy whose
// replay failed.
func replayAndSwap(ctx context.Context, o PITROptions, res *PITRResult, b *catalog.BackupInfo, from binlog.BinlogPos, need []*ChunkInfo, files, known []string, written map[string]string) error {
	rres := res.Restore
	start := time.Now()
	flavor := "mariadb"
	if len(need) > 0 && need[0].manifest != nil && need[0].manifest.Server.Flavor != "" {
		flavor = need[0].manifest.Server.Flavor
	}
	total := res.Stats.Groups // counted by the checking pass
	ro := replay.ReplayOptions{MySQL: o.MySQL, Databases: written, Flavor: flavor,
		BinlogTool: o.BinlogTool, Client: o.Client, Logger: o.Logger, Mode: o.ReplayMode}
	if o.ReplayProgress != nil {
		ro.Progress = func(a replay.Applied) { o.ReplayProgress(a, total) }
	}
	rp, err := replay.StartReplay(ctx, ro)
	if err == nil {
		*res = PITRResult{Backup: b, Restore: rres, From: from, Chunks: len(need)}
		err = runReplay(ctx, rp, need, files, from, o.Point, replay.NewReplayFilter(written, known), res)
	}
	res.Replay = time.Since(start)
	if err != nil {
		err = fmt.Errorf("point-in-time restore: replaying the binary log after backup %s: %s: %w", b.ID, replayedUpTo(res), err)
	} else if rres.Swap != nil {
		// Replayed: only now is an original replaced.
		if err = rres.Swap(ctx); err != nil {
			err = fmt.Errorf("point-in-time restore: backup %s and the replay were complete: %w", b.ID, err)
		}
	}
	if err != nil {
		switch {
		case rres.Discard != nil:
			if derr := rres.Discard(context.WithoutCancel(ctx)); derr != nil {
				o.Logger.Error("point-in-time restore: cannot drop the restored databases", "err", derr)
			}
		case !o.KeepPartial:
			dropDatabases(ctx, o, rres.Databases)
		}
		return err
	}
	return nil
}

// replayedUpTo says how far a failed replay got: the end of the last
// event passed on to the server (its source position), which a new
// attempt or a manual one (mariadb-binlog --start-position) goes on from.
func replayedUpTo(res *PITRResult) string {
	switch {
	case res.Committed && res.LastApplied.File == "" && res.Uncertain != "":
		return "no source transaction was committed on the target (the replay starts at source position " + res.From.String() + "), unless its first batch was (its commit was sent; " + res.Uncertain + ")"
	case res.Committed && res.LastApplied.File == "":
		return "no source transaction was committed on the target (the replay starts at source position " + res.From.String() + ")"
	case res.Committed && res.Uncertain != "":
		return fmt.Sprintf("every source transaction up to source position %s is committed on the target (%d of them), and the batch after it may be too (its commit was sent; %s)", res.LastApplied, res.Applied, res.Uncertain)
	case res.Committed:
		return fmt.Sprintf("every source transaction up to source position %s is committed on the target (%d of them; the open batch after it was rolled back)", res.LastApplied, res.Applied)
	case res.LastApplied.File == "":
		return "no event applied yet (from " + res.From.String() + ")"
	}
	return "the last event passed on to the server ends at source position " + res.LastApplied.String()
}

// runReplay replays the chunks through rp and closes it; res gets how far
// the target got.
func runReplay(ctx context.Context, rp *replay.Replayer, need []*ChunkInfo, files []string, from binlog.BinlogPos, p RestorePoint, f *replay.ReplayFilter, res *PITRResult) error {
	err := replayChunks(ctx, need, files, from, p, f, rp, res)
	if err != nil {
		rp.Abort()
	} else {
		err = rp.Close()
	}
	if a, ok := rp.Applied(); ok {
		res.Committed, res.LastApplied, res.Applied, res.Uncertain = true, a.End, a.Groups, a.Uncertain
	}
	return err
}

// writtenMapping is mapping (SRC → DST) with each DST replaced by the name
// the restore wrote it under.
func writtenMapping(mapping, written map[string]string) map[string]string {
	out := make(map[string]string, len(mapping))
	for src, dst := range mapping {
		out[src] = dst
		if w, ok := written[dst]; ok {
			out[src] = w
		}
	}
	return out
}

// dropDatabases drops what a failed replay leaves half-done.
func dropDatabases(ctx context.Context, o PITROptions, dbs []string) {
	db, err := conn.Connect(context.WithoutCancel(ctx), o.MySQL, o.Logger)
	if err != nil {
		o.Logger.Error("point-in-time restore: cannot drop the restored databases", "err", err)
		return
	}
	defer db.Close()
	for _, d := range dbs {
		if _, err := db.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(d)); err != nil {
			o.Logger.Error("point-in-time restore: cannot drop a restored database", "database", d, "err", err)
		}
	}
}

// choose picks the newest complete backup before the point whose window
// reaches it.
func (ch *BinlogChain) choose(backups []*catalog.BackupInfo, p RestorePoint) (*catalog.BackupInfo, BinlogWindow, error) {
	windows := map[string]BinlogWindow{}
	for _, w := range ch.Windows {
		windows[w.Backup] = w
	}
	var before []*catalog.BackupInfo
	for _, b := range backups { // newest first
		m := b.ManifestData()
		w, ok := windows[b.ID]
		if !b.Complete || m == nil || !ok || !p.FollowsBackup(b, w) {
			continue
		}
		before = append(before, b)
		if w.Recoverable && p.ReachedBy(w) {
			return b, w, nil
		}
	}
	why := "no complete backup of the job has a binary log position"
	switch {
	case len(ch.Windows) > 0 && len(before) == 0:
		why = "it is before the oldest backup that has a binary log position"
	case len(before) > 0:
		why = "the archived binary log does not reach it from any backup before it (a gap in the archive, or the point is after its last event)"
	}
	e := &NotRecoverableError{Point: p, Why: why}
	e.Recoverable, e.End = ch.describeWindows()
	return nil, BinlogWindow{}, e
}

// describeWindows lists the recoverable windows (the nearest points a
// restore can reach) and where the archive after them ends (zero when no
// window is recoverable).
func (ch *BinlogChain) describeWindows() (string, binlog.BinlogPos) {
	var parts []string
	for _, w := range ch.Windows {
		if w.Recoverable {
			parts = append(parts, fmt.Sprintf("backup %s: from %s (%s) to %s (%s)", w.Backup,
				w.From.UTC().Format(time.RFC3339), w.FromPosition, w.Until.UTC().Format(time.RFC3339), w.UntilPosition))
		}
	}
	if len(parts) == 0 {
		return "no point is recoverable (ops backup list --binlog shows the archive)", binlog.BinlogPos{}
	}
	end, _ := ch.End()
	return "recoverable: " + strings.Join(parts, "; "), end
}

// replayChunks returns the chunks a replay from pos reads: from the chunk
// that covers pos to the one where the point is reached (or the end of the
// contiguous archive).
func (ch *BinlogChain) replayChunks(pos binlog.BinlogPos, p RestorePoint) []*ChunkInfo {
	for _, seg := range ch.segments {
		for i, c := range seg {
			if !covers(c, pos) {
				continue
			}
			if pos == c.Next && i < len(seg)-1 {
				i++
			}
			var out []*ChunkInfo
			for _, c := range seg[i:] {
				out = append(out, c)
				if p.HeldBy(c, pos) {
					break
				}
			}
			return out
		}
	}
	return nil
}

// fetchChunks copies the chunks into dir (decrypted, decompressed),
// checking each against its manifest before it is used.
func fetchChunks(ctx context.Context, o PITROptions, need []*ChunkInfo, dir string) ([]string, error) {
	files := make([]string, len(need))
	for i, c := range need {
		if o.RequireEncryption && c.manifest.Encryption == nil {
			return nil, fmt.Errorf("chunk %s is not encrypted, but its job encrypts everything: refusing it (it was not written by this job): %w", c.Start, catalog.ErrNotComplete)
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("%06d.bin", i))
		if err := fetchChunk(ctx, o, c, files[i]); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func fetchChunk(ctx context.Context, o PITROptions, c *ChunkInfo, path string) error {
	rc, err := OpenChunk(ctx, o.Store, c, o.Identities)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		rc.Close()
		return err
	}
	_, err = io.Copy(f, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr // size and SHA-256 against the manifest
	}
	if ferr := f.Close(); err == nil {
		err = ferr
	}
	return err // OpenChunk's errors name the chunk
}
