package pitr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/storage"
)

// BinlogVerifyResult is the outcome of checking the archived binary log a
// backup's point-in-time recovery needs.
type BinlogVerifyResult struct {
	Window   BinlogWindow
	Chunks   int      // chunks checked
	Decoded  int      // of which read event by event (not encrypted, or an identity was given)
	Problems []string // empty when the window is usable to its end
}

// OK reports whether nothing is wrong.
func (v *BinlogVerifyResult) OK() bool { return len(v.Problems) == 0 }

// VerifyBinlog checks the archived binary log from a backup's position to
// the end of the archive: the backup's position must be archived, no gap
// may follow it, and every chunk of its window must match its manifest
// (size and SHA-256 of the stored object; when it can be read — not
// encrypted, or ids given — every event is decoded with its checksum, and
// the positions, event count and SHA-256 of the binary log are compared
// with the manifest).
func VerifyBinlog(ctx context.Context, s storage.Store, job backup.Job, b *catalog.BackupInfo, ids []age.Identity) (*BinlogVerifyResult, error) {
	chunks, err := ListBinlogChunks(ctx, s, job)
	if err != nil {
		return nil, err
	}
	ch := AnalyzeBinlog(job.Name, chunks, []*catalog.BackupInfo{b})
	res := &BinlogVerifyResult{}
	if len(ch.Windows) == 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("backup %s recorded no binary log position: it cannot be rolled forward", b.ID))
		return res, nil
	}
	res.Window = ch.Windows[0]
	w := res.Window
	if !w.Recoverable {
		res.Problems = append(res.Problems, fmt.Sprintf("binlog: no point-in-time window from backup %s at %s: %s", b.ID, w.FromPosition, w.Problem))
	}
	for _, g := range ch.GapsAfter(w.FromPosition) {
		res.Problems = append(res.Problems, fmt.Sprintf("binlog gap after backup %s: nothing archived from %s to %s (%s)", b.ID, g.From, g.To, g.Reason))
	}
	for _, p := range ch.Problems {
		res.Problems = append(res.Problems, "binlog: "+p)
	}
	if !w.Recoverable {
		return res, nil
	}
	started := false
	for _, c := range ch.Chunks {
		if c.Status != catalog.StatusComplete {
			continue
		}
		if !started {
			if !covers(c, w.FromPosition) || (w.FromPosition == c.Next && c.Next != w.UntilPosition) {
				continue
			}
			started = true
		}
		problems, decoded, err := verifyChunk(ctx, s, c, ids)
		if err != nil {
			return nil, err
		}
		res.Chunks++
		if decoded {
			res.Decoded++
		}
		res.Problems = append(res.Problems, problems...)
		if c.Next == w.UntilPosition {
			break
		}
	}
	return res, nil
}

// verifyChunk checks one chunk against its manifest.
func verifyChunk(ctx context.Context, s storage.Store, c *ChunkInfo, ids []age.Identity) (problems []string, decoded bool, err error) {
	m := c.manifest
	if m.Encryption != nil && len(ids) == 0 {
		rc, err := s.Open(ctx, m.Object.Name)
		if errors.Is(err, storage.ErrNotExist) {
			return []string{m.Object.Name + ": missing"}, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, storage.ContextReader(ctx, rc))
		if err != nil {
			return nil, false, fmt.Errorf("reading %s: %w", m.Object.Name, err)
		}
		if n != m.Object.Size {
			problems = append(problems, fmt.Sprintf("%s: size %d, manifest says %d", m.Object.Name, n, m.Object.Size))
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != m.Object.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, manifest says %s", m.Object.Name, got, m.Object.SHA256))
		}
		return problems, false, nil
	}
	rc, err := OpenChunk(ctx, s, c, ids)
	if errors.Is(err, storage.ErrNotExist) {
		return []string{m.Object.Name + ": missing"}, false, nil
	}
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", m.Object.Name, err)}, false, nil
	}
	h := sha256.New()
	var n int64
	events := 0
	var first, last *binlog.BinlogEvent
	var dataOffset int64
	var newest time.Time // as the chunker counts max_event: format descriptions aside
	readErr := binlog.ReadBinlogFile(io.TeeReader(rc, &countWriter{h: h, n: &n}), m.Start.File, func(ev *binlog.BinlogEvent, off int64) error {
		if ev.Type == binlog.EventFormatDesc && off == 4 && m.Start.Pos > 4 {
			return nil // the description written at the start of a chunk from the middle of a file
		}
		if first == nil {
			first, dataOffset = ev, off
		}
		last = ev
		events++
		if ev.Type != binlog.EventFormatDesc && ev.Time().After(newest) {
			newest = ev.Time()
		}
		return nil
	})
	if readErr == nil {
		_, readErr = io.Copy(io.Discard, rc)
	}
	closeErr := rc.Close()
	switch {
	case readErr != nil:
		problems = append(problems, fmt.Sprintf("%s: %v", m.Object.Name, readErr))
	case closeErr != nil:
		problems = append(problems, closeErr.Error())
	default:
		if got := hex.EncodeToString(h.Sum(nil)); got != m.BinlogSHA256 || n != m.BinlogBytes {
			problems = append(problems, fmt.Sprintf("%s: binary log of %d bytes, SHA-256 %s; manifest says %d bytes, %s", m.Object.Name, n, got, m.BinlogBytes, m.BinlogSHA256))
		}
		switch {
		case first == nil:
			problems = append(problems, m.Object.Name+": no event")
		case first.Start != m.Start.Pos || last.End != m.End.Pos || last.File != m.End.File || events != m.Events || dataOffset != m.DataOffset:
			problems = append(problems, fmt.Sprintf("%s: events %d from %d (offset %d) to %s:%d; manifest says %d from %s (offset %d) to %s",
				m.Object.Name, events, first.Start, dataOffset, last.File, last.End, m.Events, m.Start, m.DataOffset, m.End))
		case !m.MaxEvent.IsZero() && !newest.Equal(m.MaxEvent):
			// The windows' times come from it.
			problems = append(problems, fmt.Sprintf("%s: greatest event time %s; manifest says %s",
				m.Object.Name, newest.UTC().Format(time.RFC3339), m.MaxEvent.UTC().Format(time.RFC3339)))
		}
	}
	return problems, true, nil
}

type countWriter struct {
	h interface{ Write([]byte) (int, error) }
	n *int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return c.h.Write(p)
}
