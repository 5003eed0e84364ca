package pitr

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/mem"
)

// The recovery point bound of the continuous archiver, checked at every
// read of the replication stream instead of against a stopwatch: whenever
// a committed transaction has been handed to the archiver and is not in a
// stored chunk yet, and no transaction is open, the archiver must be
// waiting for the next event with a deadline no later than flush_interval
// after it was handed over (it closes the chunk then). The deadline is the
// archiver's own; the time the transaction was handed over is taken before
// the archiver sees it, so the check holds on a machine of any speed.
// With flush_interval 1h the chunk is stored at the stop; with 20ms the
// deadline passes and the chunk is closed by the interval.
func TestArchiveBinlogFlushBound(t *testing.T) {
	for _, flush := range []time.Duration{time.Hour, 20 * time.Millisecond} {
		t.Run(flush.String(), func(t *testing.T) {
			s := mem.New()
			job := binlogJob()
			job.Binlog.FlushInterval = flush
			srv := binlogfake.New(1)
			backupAt(t, s, job, srv, backuptest.T0)
			src := &boundSource{fakeSource: &fakeSource{srv: srv}, flush: flush, store: s, job: job, checked: make(chan struct{})}
			stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: src.open, Retry: true})
			srv.Commit(1)
			<-src.checked // the archiver waited once with the transaction not stored
			if flush < time.Hour {
				waitChunks(t, s, job, 1)
				srv.Commit(2)
				srv.Commit(3)
				waitChunks(t, s, job, 2)
			}
			if _, err := stop(); err != nil {
				t.Fatal(err)
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			for _, v := range src.violations {
				t.Error(v)
			}
			want := ClosedByStop
			if flush < time.Hour {
				want = ClosedByInterval
			}
			chunks := chunksOf(t, s, job)
			if len(chunks) == 0 || chunks[0].ManifestData().ClosedBy != want {
				t.Errorf("%d chunks; the first must be closed by %s", len(chunks), want)
			}
		})
	}
}

// boundSource hands the archiver streams that check the flush bound.
type boundSource struct {
	*fakeSource
	flush time.Duration
	store storage.Store
	job   backup.Job

	mu         sync.Mutex
	waiting    []handedOver // committed transactions not in a stored chunk yet
	inTrx      bool
	checks     int
	checked    chan struct{} // closed at the first check
	violations []string
}

type handedOver struct {
	end binlog.BinlogPos
	at  time.Time
}

func (b *boundSource) open(context.Context) (BinlogSource, error) {
	b.opens.Add(1)
	return b, nil
}

func (b *boundSource) Stream(ctx context.Context, from binlog.BinlogPos) (BinlogStream, error) {
	st, err := b.fakeSource.Stream(ctx, from)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.waiting, b.inTrx = nil, false // a new session reads them again
	b.mu.Unlock()
	return &boundStream{BinlogStream: st, b: b}, nil
}

type boundStream struct {
	BinlogStream
	b *boundSource
}

func (s *boundStream) Next(ctx context.Context) (*binlog.BinlogEvent, error) {
	b := s.b
	b.check(ctx)
	at := time.Now() // before the archiver has the event
	ev, err := s.BinlogStream.Next(ctx)
	if err != nil || ev.Artificial {
		return ev, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inTrx = !ev.Boundary
	if ev.Boundary && !fileFraming(ev.Type) {
		b.waiting = append(b.waiting, handedOver{binlog.BinlogPos{File: ev.File, Pos: ev.End}, at})
	}
	return ev, nil
}

// check compares the deadline of this read with the oldest transaction
// that is not stored yet.
func (b *boundSource) check(ctx context.Context) {
	chunks, err := ListBinlogChunks(context.Background(), b.store, b.job)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.violations = append(b.violations, err.Error())
		return
	}
	var left []handedOver
	for _, w := range b.waiting {
		stored := false
		for _, c := range chunks {
			stored = stored || (c.Complete() && binlog.CompareBinlogPos(w.end, c.End) <= 0)
		}
		if !stored {
			left = append(left, w)
		}
	}
	b.waiting = left
	if len(left) == 0 || b.inTrx {
		return
	}
	bound := left[0].at.Add(b.flush)
	if dl, ok := ctx.Deadline(); !ok || dl.After(bound) {
		b.violations = append(b.violations, fmt.Sprintf("the transaction ending at %s, handed over at %s, not stored; the archiver waits for the next event with deadline %v (set: %v), after its bound %s (flush_interval %s)",
			left[0].end, left[0].at.Format(time.StampMicro), dl.Format(time.StampMicro), ok, bound.Format(time.StampMicro), b.flush))
	}
	if b.checks++; b.checks == 1 {
		close(b.checked)
	}
}
