package pitr

import (
	"fmt"
	"time"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
)

// BinlogChain is what the archived binary log of a job allows: its chunks,
// the recoverable window from each backup, and the gaps.
type BinlogChain struct {
	Job    string       `json:"job"`
	Chunks []*ChunkInfo `json:"chunks"`
	// Windows: for each complete backup with a binary log position, newest
	// first, the points in time it can be rolled forward to.
	Windows []BinlogWindow `json:"windows"`
	// Gaps are the holes of the chain: between them, the archive is not
	// continuous and no replay can cross them.
	Gaps []BinlogGap `json:"gaps"`
	// Problems are chunks that are not usable (corrupt, untrusted) or
	// overlap others.
	Problems []string `json:"problems"`

	segments [][]*ChunkInfo // contiguous runs of complete chunks
}

// BinlogWindow is the range of points one backup can be restored to:
// from the backup's snapshot (at FromPosition, taken just after From) to
// the end of the contiguous archive (UntilPosition, UntilGTID). Until is
// the greatest event time the replay from FromPosition reaches, not the
// last event's: timestamps can go backwards (a recovery replays old events
// into the source's binary log with their original time), and a replay to
// a time T stops at the first event at or after T wherever it is.
type BinlogWindow struct {
	Job          string           `json:"job"`
	Backup       string           `json:"backup"`
	From         time.Time        `json:"from"`
	FromPosition binlog.BinlogPos `json:"from_position"`
	FromGTID     string           `json:"from_gtid,omitempty"`
	// Recoverable is false when the archive does not hold the binary log
	// from the backup's position; Problem says why.
	Recoverable   bool             `json:"recoverable"`
	Problem       string           `json:"problem,omitempty"`
	Until         time.Time        `json:"until,omitzero"`
	UntilPosition binlog.BinlogPos `json:"until_position,omitzero"`
	UntilGTID     string           `json:"until_gtid,omitempty"`
	// Chunks is the number of chunks a replay from the backup to Until reads.
	Chunks int `json:"chunks,omitempty"`
}

// BinlogGap is a part of the server's binary log that is not archived.
type BinlogGap struct {
	Job string `json:"job"`
	// From is where the archive stops (the Next of the chunk before the
	// gap) and To where it starts again.
	From binlog.BinlogPos `json:"from"`
	To   binlog.BinlogPos `json:"to"`
	// FromTime and ToTime are the last archived event before the gap and
	// the first after it.
	FromTime time.Time `json:"from_time,omitzero"`
	ToTime   time.Time `json:"to_time,omitzero"`
	Reason   string    `json:"reason"`
}

// AnalyzeBinlog puts a job's chunks (ListBinlogChunks) in a chain, finds
// its gaps and the window of each backup (ListBackups; the incomplete
// ones are ignored).
func AnalyzeBinlog(job string, chunks []*ChunkInfo, backups []*catalog.BackupInfo) *BinlogChain {
	ch := &BinlogChain{Job: job, Chunks: chunks, Windows: []BinlogWindow{}, Gaps: []BinlogGap{}, Problems: []string{}}
	if ch.Chunks == nil {
		ch.Chunks = []*ChunkInfo{}
	}
	var seg []*ChunkInfo
	var prev *ChunkInfo
	for _, c := range chunks {
		switch c.Status {
		case catalog.StatusComplete:
		case catalog.StatusPartial:
			continue // a chunk being written, or a killed archiver's; never part of the chain
		default:
			ch.Problems = append(ch.Problems, fmt.Sprintf("chunk %s is %s: %s", c.Start, c.Status, c.Problem))
			continue
		}
		switch {
		case prev == nil:
		case c.Follows == prev.Next || c.Start == prev.Next:
			seg = append(seg, c)
			prev = c
			continue
		case binlog.CompareBinlogPos(c.Start, prev.Next) < 0:
			ch.Problems = append(ch.Problems, fmt.Sprintf("chunk %s (to %s) overlaps chunk %s (to %s)", c.Start, c.End, prev.Start, prev.End))
		default:
			ch.Gaps = append(ch.Gaps, BinlogGap{Job: job, From: prev.Next, To: c.Start, FromTime: prev.LastEvent, ToTime: c.FirstEvent,
				Reason: gapReason(chunks, prev.Next, c.Start)})
		}
		if seg != nil {
			ch.segments = append(ch.segments, seg)
		}
		seg = []*ChunkInfo{c}
		prev = c
	}
	if seg != nil {
		ch.segments = append(ch.segments, seg)
	}
	for _, b := range backups {
		m := b.ManifestData()
		if !b.Complete || m == nil || m.Consistency.BinlogFile == "" {
			continue
		}
		ch.Windows = append(ch.Windows, ch.window(b, m))
	}
	return ch
}

// gapReason explains a gap from the chunks that are in it.
func gapReason(chunks []*ChunkInfo, from, to binlog.BinlogPos) string {
	for _, c := range chunks {
		if c.Status != catalog.StatusComplete && binlog.CompareBinlogPos(c.Start, from) >= 0 && binlog.CompareBinlogPos(c.Start, to) < 0 {
			return fmt.Sprintf("chunk %s is %s", c.Start, c.Status)
		}
	}
	return "not archived: the server purged these binary logs before the archiver read them (archiver stopped too long, or logs purged by hand)"
}

// window computes the window of one backup.
func (ch *BinlogChain) window(b *catalog.BackupInfo, m *catalog.Manifest) BinlogWindow {
	pos := binlog.BinlogPos{File: m.Consistency.BinlogFile, Pos: m.Consistency.BinlogPos}
	w := BinlogWindow{Job: ch.Job, Backup: b.ID, From: b.StartedAt, FromPosition: pos, FromGTID: m.Consistency.GTID}
	for _, seg := range ch.segments {
		for i, c := range seg {
			if !covers(c, pos) {
				continue
			}
			last := seg[len(seg)-1]
			w.Recoverable = true
			w.Until, w.UntilPosition, w.UntilGTID = reachedFrom(seg[i:], pos), last.Next, last.EndGTID
			if w.Until.Before(w.From) {
				w.Until = w.From
			}
			w.Chunks = len(seg) - i
			if pos == c.Next && i < len(seg)-1 {
				w.Chunks-- // it starts with the next chunk
			}
			return w
		}
	}
	switch {
	case len(ch.segments) == 0:
		w.Problem = "nothing archived yet (the archiver stores the events written after this backup: ops backup binlog)"
	case binlog.CompareBinlogPos(pos, ch.segments[0][0].Follows) < 0:
		w.Problem = fmt.Sprintf("the archive starts at %s, after this backup's position", ch.segments[0][0].Start)
	default:
		last := ch.segments[len(ch.segments)-1]
		if end := last[len(last)-1].Next; binlog.CompareBinlogPos(pos, end) > 0 {
			w.Problem = fmt.Sprintf("the archive ends at %s, before this backup's position (is the archiver running?)", end)
		} else {
			w.Problem = "this backup's position falls in a gap of the archive"
		}
	}
	return w
}

// reachedFrom is the greatest event time a replay from pos through chunks
// reaches (zero when it reads no event).
func reachedFrom(chunks []*ChunkInfo, pos binlog.BinlogPos) time.Time {
	var t time.Time
	for _, c := range chunks {
		if r := reached(c, pos); r.After(t) {
			t = r
		}
	}
	return t
}

// reached is the greatest event time a replay from pos is known to read in
// chunk c: the chunk's newest event when the replay reads all of it; when
// pos is inside the chunk only its last event's (the newest may come
// before pos); zero when pos is at or after its end.
func reached(c *ChunkInfo, pos binlog.BinlogPos) time.Time {
	switch {
	case pos == c.Follows || binlog.CompareBinlogPos(pos, c.Start) <= 0:
		return c.Newest()
	case pos == c.Next || binlog.CompareBinlogPos(pos, c.End) >= 0:
		return time.Time{}
	}
	return c.LastEvent
}

// covers reports whether a replay from pos can start in chunk c: pos is
// where the chunk follows on, inside it, or where it ends.
func covers(c *ChunkInfo, pos binlog.BinlogPos) bool {
	if pos == c.Follows || pos == c.Next {
		return true
	}
	return pos.File == c.Start.File && pos.Pos >= c.Start.Pos && pos.Pos <= c.End.Pos
}

// GapsAfter returns the gaps that come after pos (the ones a replay from a
// backup at pos would have to cross to reach the end of the archive).
func (ch *BinlogChain) GapsAfter(pos binlog.BinlogPos) []BinlogGap {
	var out []BinlogGap
	for _, g := range ch.Gaps {
		if binlog.CompareBinlogPos(g.From, pos) >= 0 {
			out = append(out, g)
		}
	}
	return out
}

// End is where the archive ends (the Next of its last complete chunk) and
// the greatest event time of its last contiguous run of chunks.
func (ch *BinlogChain) End() (binlog.BinlogPos, time.Time) {
	if len(ch.segments) == 0 {
		return binlog.BinlogPos{}, time.Time{}
	}
	last := ch.segments[len(ch.segments)-1]
	return last[len(last)-1].Next, reachedFrom(last, last[0].Start)
}
