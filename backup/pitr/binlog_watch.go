package pitr

import (
	"context"
	"sync"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
)

// The silence watchdog. A replication connection receives a heartbeat from
// the server every binlog.BinlogHeartbeat without events, so an archiver
// that has heard nothing (no event, no heartbeat, no answer to a new
// connection) for a few periods has lost its server: stopped, frozen,
// unreachable. The stream notices it only after its stall bound, and a
// reconnection to a frozen server can wait much longer; the watchdog warns
// meanwhile, again at every further bound, and ArchiveStatus says how long
// the source has been silent (ops_binlog_source_silent_seconds).

// DefaultSilenceWarn is ArchiveOptions.SilenceWarn when it is zero: three
// heartbeat periods.
const DefaultSilenceWarn = 3 * binlog.BinlogHeartbeat

// heard records that the source answered now.
func (a *archiver) heard() {
	now := time.Now()
	a.silence.Lock()
	a.lastHeard = now
	a.silence.Unlock()
	a.o.Status.update(func(s *ArchiveStatus) { s.lastHeard = now })
}

func (a *archiver) silentFor(now time.Time) time.Duration {
	a.silence.Lock()
	defer a.silence.Unlock()
	return now.Sub(a.lastHeard)
}

// watchSilence warns while the source is silent past the bound, until the
// returned function is called (which waits for the watchdog to end).
func (a *archiver) watchSilence(ctx context.Context) (stop func()) {
	bound := a.o.SilenceWarn
	if bound <= 0 {
		bound = DefaultSilenceWarn
	}
	tick := min(max(bound/4, time.Millisecond), 5*time.Second)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		var warned time.Duration // the silence at the last warning (0: none)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				silent := a.silentFor(now)
				switch {
				case silent >= bound && (warned == 0 || silent >= warned+bound || silent < warned):
					warned = silent
					a.log.Warn("binlog source silent: no event nor heartbeat from the server (stopped, frozen or unreachable?); archiving waits for it",
						"job", a.o.Job.Name, "silent_for", silent.Round(time.Second).String(), "heartbeat_period", binlog.BinlogHeartbeat.String())
				case silent < bound && warned != 0:
					a.log.Info("binlog source answers again", "job", a.o.Job.Name, "was_silent_for", warned.Round(time.Second).String()+"+")
					warned = 0
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// heardStream records every event (heartbeats included) as heard.
type heardStream struct {
	BinlogStream
	a *archiver
}

func (h heardStream) Next(ctx context.Context) (*binlog.BinlogEvent, error) {
	ev, err := h.BinlogStream.Next(ctx)
	if err == nil {
		h.a.heard()
	}
	return ev, err
}
