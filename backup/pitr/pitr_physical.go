package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/mysql/replay"
)

// PhysicalPITROptions configure a point-in-time restore on a physical base:
// the embedded options are RestorePhysical's (List and ID are chosen here).
type PhysicalPITROptions struct {
	backup.PhysicalRestoreOptions
	Job   backup.Job
	Point RestorePoint
	// BinlogTool, Client and Mariadbd override mariadb-binlog, mariadb and
	// mariadbd (tests).
	BinlogTool, Client, Mariadbd string
	// TempDir holds the chunks and the throw-away server's socket.
	TempDir string
	// ReplayMode is replay.ModeBatched (when empty) or replay.ModeStock.
	ReplayMode string
}

// RestorePhysicalPointInTime restores the newest physical backup before the
// point whose archived binary log reaches it into o.Datadir (its chain
// checked, extracted and prepared: RestorePhysical), starts a throw-away
// mariadbd on it (no network, its own socket), replays the archived binary
// log from the backup's position up to the point for the backup's
// databases, and shuts the server down cleanly. As for a logical base,
// every chunk is fetched and checked and the whole replay filtered before
// anything is written; on failure the data directory is removed again.
func RestorePhysicalPointInTime(ctx context.Context, o PhysicalPITROptions) (*PITRResult, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Point == nil {
		return nil, errors.New("point-in-time restore: no restore point")
	}
	if err := backup.CheckDatadir(o.Datadir); err != nil {
		return nil, err
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
	mapping := map[string]string{}
	for _, db := range m.Databases {
		mapping[db] = db
	}
	need := chain.replayChunks(w.FromPosition, o.Point)
	dir, err := os.MkdirTemp(o.TempDir, "ops-pitr-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	po := PITROptions{BackupRestoreOptions: backup.BackupRestoreOptions{Store: o.Store, Identities: o.Identities, RequireEncryption: o.RequireEncryption}}
	files, err := fetchChunks(ctx, po, need, dir)
	if err != nil {
		return nil, fmt.Errorf("point-in-time restore: nothing was restored: %w", err)
	}
	res := &PITRResult{Backup: b, From: w.FromPosition, Chunks: len(need)}
	if err := replayChunks(ctx, need, files, w.FromPosition, o.Point, replay.NewReplayFilter(mapping, m.Databases), nil, res); err != nil {
		return nil, fmt.Errorf("point-in-time restore: nothing was restored: %w", err)
	}
	if o.Point.stopArchived() && res.StoppedAt.IsZero() {
		return nil, &NotRecoverableError{Point: o.Point, Why: fmt.Sprintf("the archived binary log from backup %s (%s) has no event at or after it, although its chunk manifests say so: nothing was restored", b.ID, w.FromPosition)}
	}
	ro := o.PhysicalRestoreOptions
	ro.List, ro.ID = completeOnly(backups), b.ID
	if _, err := backup.RestorePhysical(ctx, ro); err != nil {
		return nil, err
	}
	if err := replayOnScratch(ctx, o, res, b, w.FromPosition, need, files, mapping, dir); err != nil {
		os.RemoveAll(o.Datadir)
		return nil, err
	}
	return res, nil
}

// replayOnScratch starts a throw-away mariadbd on the restored directory,
// replays the chunks into it and shuts it down.
func replayOnScratch(ctx context.Context, o PhysicalPITROptions, res *PITRResult, b *catalog.BackupInfo, from binlog.BinlogPos, need []*ChunkInfo, files []string, mapping map[string]string, dir string) error {
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o750); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the server runs as mysql
		return err
	}
	srv, err := physical.StartScratch(ctx, o.Logger, o.Mariadbd, o.Datadir, run)
	if err != nil {
		return fmt.Errorf("point-in-time restore on backup %s: %w", b.ID, err)
	}
	start := time.Now()
	rp, err := replay.StartReplay(ctx, replay.ReplayOptions{MySQL: conn.Config{Socket: srv.Socket, User: "root"}, Databases: mapping,
		Flavor: "mariadb", BinlogTool: o.BinlogTool, Client: o.Client, Logger: o.Logger, Mode: o.ReplayMode})
	if err == nil {
		*res = PITRResult{Backup: b, From: from, Chunks: len(need)}
		err = runReplay(ctx, rp, need, files, from, o.Point, replay.NewReplayFilter(mapping, b.ManifestData().Databases), res)
	}
	res.Replay = time.Since(start)
	if serr := srv.Stop(); err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("point-in-time restore: replaying the binary log after backup %s: %w", b.ID, err)
	}
	return physical.ChownMySQL(o.Datadir)
}

func completeOnly(list []*catalog.BackupInfo) []*catalog.BackupInfo {
	var out []*catalog.BackupInfo
	for _, b := range list {
		if b.Complete {
			out = append(out, b)
		}
	}
	return out
}
