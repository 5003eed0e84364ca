package pitr

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
	"github.com/opsteam/ops/backup/storage/mem"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A source that sends nothing, not even a heartbeat (the fake server sends
// none: idle, it is what a stopped server looks like): the archiver warns
// once the silence passes SilenceWarn and again at every further bound,
// the status reports the silence (ops_binlog_source_silent_seconds), and
// once events come again it says the source answers and the silence is 0.
func TestArchiveBinlogWarnsWhileTheSourceIsSilent(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	var logs lockedBuffer
	status := &ArchiveStatus{}
	const bound = 20 * time.Millisecond
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: (&fakeSource{srv: srv}).open, Retry: true, Status: status,
		SilenceWarn: bound, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// Wait for the status to show a silence of ten bounds (not a time
	// limit: the archiver's own measure).
	for status.State().Silent(time.Now()) < 10*bound {
		time.Sleep(time.Millisecond)
	}
	l := logs.String()
	if n := strings.Count(l, "level=WARN msg=\"binlog source silent"); n < 2 {
		t.Fatalf("silent for %s (bound %s): %d warnings, want at least 2 (repeated):\n%s", status.State().Silent(time.Now()), bound, n, l)
	}
	if !strings.Contains(l, "job="+job.Name) || !strings.Contains(l, "silent_for=") {
		t.Errorf("the warning does not name the job and the silence:\n%s", l)
	}
	srv.Commit(1)
	for !strings.Contains(logs.String(), "binlog source answers again") {
		time.Sleep(time.Millisecond)
	}
	if st := status.State(); st.Silent(st.LastHeard) != 0 || st.LastHeard.IsZero() {
		t.Errorf("after the events the status shows %+v", st)
	}
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := status.State(); st.Silent(time.Now()) != 0 {
		t.Errorf("a stopped archiver reports a silence of %s", st.Silent(time.Now()))
	}
}
