package pitr

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/replay"
)

// errReachedPoint ends the reading of the chunks at the restore point.
var errReachedPoint = errors.New("restore point reached")

// replayChunks reads the fetched chunks from the backup's position to the
// point and passes the events of the restored databases to rp (nil: the
// checking pass, which only filters). res gets where the replay stopped
// and what it applied.
func replayChunks(ctx context.Context, need []*ChunkInfo, files []string, from binlog.BinlogPos, p RestorePoint,
	f *replay.ReplayFilter, rp *replay.Replayer, res *PITRResult) error {
	curFile, n := "", 0
	for i, c := range need {
		fh, err := os.Open(files[i])
		if err != nil {
			return err
		}
		err = binlog.ReadBinlogFile(fh, c.Start.File, func(ev *binlog.BinlogEvent, _ int64) error {
			if n++; n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if ev.Type == binlog.EventFormatDesc {
				f.Format(ev.Format)
				if rp != nil && c.Start.File != curFile {
					curFile = c.Start.File
					return rp.File(ctx, ev.Raw)
				}
				return nil
			}
			at := binlog.BinlogPos{File: ev.File, Pos: ev.Start}
			if ev.Artificial || binlog.CompareBinlogPos(at, from) < 0 {
				return nil // in the backup already
			}
			if p.StopsAt(ev) {
				res.StoppedAt, res.StopTime = at, ev.Time()
				f.Discard()
				return errReachedPoint
			}
			out, err := f.Add(ev)
			if err != nil {
				return err
			}
			if len(out) > 0 {
				res.LastApplied = binlog.BinlogPos{File: ev.File, Pos: ev.End}
				if rp != nil {
					return rp.Group(out, res.LastApplied)
				}
			}
			return nil
		})
		fh.Close()
		switch {
		case errors.Is(err, errReachedPoint):
			res.Stats = f.Stats
			return nil
		case err != nil:
			return fmt.Errorf("chunk %s: %w", c.Start, err)
		}
	}
	res.Stats = f.Stats
	if f.Pending() {
		return fmt.Errorf("the archive ends inside a transaction (at %s): it cannot be applied", res.LastApplied)
	}
	return nil
}
