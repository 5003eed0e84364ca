package pitr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/mem"
)

// The archiver against binlogfake (an in-memory MariaDB-like binary log)
// and the in-memory store. The reference for every chain is the server's
// own files: the archived events must be exactly the server's, in order,
// each once.

// fakeSource adapts binlogfake to BinlogSource.
type fakeSource struct {
	srv   *binlogfake.Server
	opens atomic.Int32
	read  atomic.Int64 // events handed to the archiver
}

func (f *fakeSource) Inspect(context.Context) (*binlog.BinlogServer, error) {
	return f.srv.Inspect(), nil
}
func (f *fakeSource) GTIDAt(_ context.Context, p binlog.BinlogPos) (string, error) {
	return f.srv.GTIDAt(p)
}
func (f *fakeSource) Stream(_ context.Context, from binlog.BinlogPos) (BinlogStream, error) {
	d, err := f.srv.Dump(from)
	if err != nil {
		return nil, err
	}
	return &countingStream{d, &f.read}, nil
}

type countingStream struct {
	*binlogfake.Dump
	n *atomic.Int64
}

func (c *countingStream) Next(ctx context.Context) (*binlog.BinlogEvent, error) {
	ev, err := c.Dump.Next(ctx)
	if err == nil && !ev.Artificial {
		c.n.Add(1)
	}
	return ev, err
}
func (f *fakeSource) Close() error { return nil }

func (f *fakeSource) open(context.Context) (BinlogSource, error) {
	f.opens.Add(1)
	return f, nil
}

func binlogJob() backup.Job {
	j := testJob()
	j.Binlog = backup.BinlogConfig{Enabled: true, FlushInterval: time.Hour}
	return j
}

// backupAt stores a complete backup whose snapshot is at the server's
// current position.
func backupAt(t *testing.T, s storage.Store, job backup.Job, srv *binlogfake.Server, at time.Time) *catalog.Manifest {
	t.Helper()
	pos, gtid := srv.Current(), srv.GTID()
	dump := func(ctx context.Context, o dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
		res, err := backuptest.FakeDump(backuptest.FakeSQL)(ctx, o, w)
		if res != nil {
			res.BinlogFile, res.BinlogPos, res.GTID = pos.File, pos.Pos, gtid
		}
		return res, err
	}
	m, err := backup.RunBackup(context.Background(), backup.RunOptions{Job: job, Store: s, Now: backuptest.FixedClock(at), Dump: dump})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func archiveOnce(t *testing.T, s storage.Store, job backup.Job, src *fakeSource) *ArchiveResult {
	t.Helper()
	res, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: src.open})
	if err != nil {
		t.Fatalf("ArchiveBinlog --once: %v", err)
	}
	return res
}

type evRec struct {
	pos binlog.BinlogPos
	raw []byte
}

func (e evRec) String() string { return fmt.Sprintf("%s(%d bytes)", e.pos, len(e.raw)) }

// storedEvents decodes every complete chunk in chain order (the format
// description written at the start of a chunk from the middle of a file
// is not an event of the log).
func storedEvents(t *testing.T, s storage.Store, job backup.Job, ids []age.Identity) []evRec {
	t.Helper()
	chunks, err := ListBinlogChunks(context.Background(), s, job)
	if err != nil {
		t.Fatal(err)
	}
	var out []evRec
	for _, c := range chunks {
		if !c.Complete() {
			continue
		}
		rc, err := OpenChunk(context.Background(), s, c, ids)
		if err != nil {
			t.Fatal(err)
		}
		m := c.ManifestData()
		err = binlog.ReadBinlogFile(rc, c.Start.File, func(ev *binlog.BinlogEvent, off int64) error {
			if off == 4 && m.Start.Pos > 4 {
				return nil
			}
			out = append(out, evRec{binlog.BinlogPos{File: ev.File, Pos: ev.Start}, ev.Raw})
			return nil
		})
		if err != nil {
			t.Fatalf("chunk %s: %v", c.Start, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("chunk %s: %v", c.Start, err)
		}
	}
	return out
}

// serverEvents is the server's log from pos to its end, file after file.
func serverEvents(t *testing.T, srv *binlogfake.Server, from binlog.BinlogPos) []evRec {
	t.Helper()
	var out []evRec
	for _, f := range srv.Files() {
		if binlog.CompareBinlogFiles(f.Name, from.File) < 0 {
			continue
		}
		err := binlog.ReadBinlogFile(bytes.NewReader(srv.FileData(f.Name)), f.Name, func(ev *binlog.BinlogEvent, off int64) error {
			if f.Name == from.File && uint64(off) < from.Pos {
				return nil
			}
			out = append(out, evRec{binlog.BinlogPos{File: ev.File, Pos: ev.Start}, ev.Raw})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameEvents compares two event sequences event by event.
func sameEvents(t *testing.T, got, want []evRec) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			t.Fatalf("event %d: %s missing from the archive (%d events archived, %d on the server)", i, want[i], len(got), len(want))
		case i >= len(want):
			t.Fatalf("event %d: %s archived but not on the server", i, got[i])
		case got[i].pos != want[i].pos || !bytes.Equal(got[i].raw, want[i].raw):
			t.Fatalf("event %d: archived %s, server has %s", i, got[i], want[i])
		}
	}
}

func chunksOf(t *testing.T, s storage.Store, job backup.Job) []*ChunkInfo {
	t.Helper()
	chunks, err := ListBinlogChunks(context.Background(), s, job)
	if err != nil {
		t.Fatal(err)
	}
	return chunks
}

func TestChunkNames(t *testing.T) {
	bp := BinlogPrefix("pfx/", "app")
	name := chunkBase(bp, binlog.BinlogPos{File: "binlog.000042", Pos: 1234}) + chunkDataSuffix(compress.Zstd, true)
	if name != "pfx/app/binlog/binlog.000042/0000001234.bin.zst.age" {
		t.Fatalf("chunk name %q", name)
	}
	start, suffix, ok := parseChunkName(strings.TrimPrefix(name, bp))
	if !ok || start != (binlog.BinlogPos{File: "binlog.000042", Pos: 1234}) || suffix != ".bin.zst.age" {
		t.Fatalf("parseChunkName = %v %q %v", start, suffix, ok)
	}
	for _, bad := range []string{"binlog.000042/12.json", "binlog.000042/0000001234.txt", "binlog.000042/x/0000001234.json", "0000001234.json"} {
		if _, _, ok := parseChunkName(bad); ok {
			t.Errorf("parseChunkName(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "..", "a/b", "a\x00"} {
		if checkBinlogFileName(bad) == nil {
			t.Errorf("binlog file name %q accepted", bad)
		}
	}
	// A job's backups listing is not confused by its binlog directory.
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	srv.Commit(3)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	list, err := backup.ListBackups(context.Background(), s, job, true)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListBackups with an archive: %d %v", len(list), err)
	}
}

// --once from the newest backup's position: chunks closed at the rotation
// and at the server's position, each a binary log file with the server's
// events; positions contiguous; the backup's window reaches the end.
func TestArchiveBinlogOnceRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		method  compress.Method
		encrypt bool
	}{{"zstd", compress.Zstd, false}, {"gzip+age", compress.Gzip, true}, {"none", compress.None, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := mem.New()
			job := binlogJob()
			job.Compression = tc.method
			var ids []age.Identity
			if tc.encrypt {
				job.EncryptTo = []string{id.Recipient().String()}
				ids = []age.Identity{id}
			}
			srv := binlogfake.New(3308)
			srv.Commit(10)
			srv.DDL("CREATE TABLE t (a INT)")
			b := backupAt(t, s, job, srv, backuptest.T0)
			from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
			srv.Commit(100)
			srv.Statements("INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)")
			srv.Rotate()
			srv.Commit(5)
			src := &fakeSource{srv: srv}
			res := archiveOnce(t, s, job, src)
			if res.Chunks != 2 || res.Position != srv.Current() || res.GTID != srv.GTID() {
				t.Fatalf("result %+v; server at %s %s", res, srv.Current(), srv.GTID())
			}
			chunks := chunksOf(t, s, job)
			if len(chunks) != 2 {
				t.Fatalf("%d chunks", len(chunks))
			}
			c1, c2 := chunks[0].ManifestData(), chunks[1].ManifestData()
			if c1.Start != from || c1.Follows != from || c1.ClosedBy != ClosedByRotate || c1.Next != (binlog.BinlogPos{File: "binlog.000002", Pos: 4}) ||
				c1.DataOffset <= 4 || c1.StartGTID != b.Consistency.GTID || c1.Transactions != 2 {
				t.Errorf("first chunk %+v", c1)
			}
			if c2.Follows != c1.Next || c2.Start != c1.Next || c2.DataOffset != 4 || c2.ClosedBy != ClosedByOnce || c2.End != srv.Current() || c2.EndGTID != srv.GTID() {
				t.Errorf("second chunk %+v", c2)
			}
			if (c1.Encryption != nil) != tc.encrypt || c1.Compression != tc.method || !strings.HasSuffix(c1.Object.Name, chunkDataSuffix(tc.method, tc.encrypt)) {
				t.Errorf("codec: %s %v %s", c1.Compression, c1.Encryption, c1.Object.Name)
			}
			sameEvents(t, storedEvents(t, s, job, ids), serverEvents(t, srv, from))
			// Nothing new: nothing stored. More events: the chain goes on.
			if res := archiveOnce(t, s, job, src); res.Chunks != 0 {
				t.Errorf("an up-to-date archive stored %d chunks", res.Chunks)
			}
			srv.Commit(1)
			archiveOnce(t, s, job, src)
			sameEvents(t, storedEvents(t, s, job, ids), serverEvents(t, srv, from))
			chunks = chunksOf(t, s, job)
			backups, _ := backup.ListBackups(context.Background(), s, job, false)
			ch := AnalyzeBinlog(job.Name, chunks, backups)
			if len(ch.Gaps) != 0 || len(ch.Problems) != 0 || len(ch.Windows) != 1 || !ch.Windows[0].Recoverable ||
				ch.Windows[0].UntilPosition != srv.Current() || ch.Windows[0].Chunks != 3 || ch.Windows[0].UntilGTID != srv.GTID() {
				t.Fatalf("chain %+v windows %+v", ch, ch.Windows)
			}
			vr, err := VerifyBinlog(context.Background(), s, job, backups[0], ids)
			if err != nil || !vr.OK() || vr.Chunks != 3 || vr.Decoded != 3 {
				t.Fatalf("VerifyBinlog = %+v, %v", vr, err)
			}
		})
	}
}

// flakyStore fails chosen Puts.
type flakyStore struct {
	storage.Store
	fail func(name string) error
}

func (f *flakyStore) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	if err := f.fail(name); err != nil {
		_, _ = io.Copy(io.Discard, r)
		return storage.Object{}, err
	}
	return f.Store.Put(ctx, name, r)
}

// An archiver that dies between a chunk's data and its manifest (the state
// kill -9 can leave) or in the middle of its data loses and duplicates
// nothing: the next run reads the chunk again from the server.
func TestArchiveBinlogResumesAfterADeath(t *testing.T) {
	base := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	b := backupAt(t, base, job, srv, backuptest.T0)
	from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
	src := &fakeSource{srv: srv}
	srv.Commit(10)
	srv.Rotate()
	srv.Commit(20)
	srv.Rotate()
	srv.Commit(30)
	died := errors.New("killed")
	puts := 0
	s := &flakyStore{Store: base, fail: func(name string) error {
		puts++
		if strings.HasSuffix(name, ".json") && strings.Contains(name, "binlog.000002/") {
			return died // the second chunk's data is stored, its manifest is not
		}
		return nil
	}}
	if _, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: src.open}); !errors.Is(err, died) {
		t.Fatalf("first run: %v", err)
	}
	chunks := chunksOf(t, base, job)
	if len(chunks) != 2 || !chunks[0].Complete() || chunks[1].Status != catalog.StatusPartial {
		t.Fatalf("after the death: %+v", chunks)
	}
	ch := AnalyzeBinlog(job.Name, chunks, nil)
	if len(ch.Gaps) != 0 || len(ch.Problems) != 0 {
		t.Fatalf("a partial chunk must not show in the chain: %+v", ch)
	}
	// Dies in the middle of the next chunk's data.
	s.fail = func(name string) error {
		if strings.Contains(name, "binlog.000003/") && !strings.HasSuffix(name, ".json") {
			return died
		}
		return nil
	}
	if _, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: src.open}); !errors.Is(err, died) {
		t.Fatalf("second run: %v", err)
	}
	srv.Commit(40)
	archiveOnce(t, base, job, src)
	chunks = chunksOf(t, base, job)
	for _, c := range chunks {
		if !c.Complete() {
			t.Errorf("chunk %s is %s after the runs", c.Start, c.Status)
		}
	}
	sameEvents(t, storedEvents(t, base, job, nil), serverEvents(t, srv, from))
}

// waitChunks waits until the archive has n complete chunks.
func waitChunks(t *testing.T, s storage.Store, job backup.Job, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := 0
		for _, c := range chunksOf(t, s, job) {
			if c.Complete() {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d complete chunks after 20s, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startArchiver runs the continuous archiver until the returned stop is called.
func startArchiver(t *testing.T, o ArchiveOptions) (stop func() (*ArchiveResult, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type out struct {
		res *ArchiveResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := ArchiveBinlog(ctx, o)
		done <- out{res, err}
	}()
	var once sync.Once
	var r out
	stop = func() (*ArchiveResult, error) {
		once.Do(func() {
			cancel()
			r = <-done
		})
		return r.res, r.err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// The continuous archiver closes a chunk every flush interval (at a
// transaction boundary) and, stopped, stores the open one and returns nil.
func TestArchiveBinlogFlushIntervalAndStop(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.Binlog.FlushInterval = 20 * time.Millisecond
	srv := binlogfake.New(1)
	b := backupAt(t, s, job, srv, backuptest.T0)
	from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
	src := &fakeSource{srv: srv}
	status := &ArchiveStatus{}
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: src.open, Retry: true, Status: status})
	srv.Commit(1)
	waitChunks(t, s, job, 1)
	srv.Commit(2)
	waitChunks(t, s, job, 2)
	if st := status.State(); !st.Running || st.LastEvent.IsZero() || st.Position.IsZero() {
		t.Errorf("status while running: %+v", st)
	}
	srv.Commit(3)
	res, err := stop()
	if err != nil {
		t.Fatalf("stopped archiver: %v", err)
	}
	if res.Chunks < 2 {
		t.Errorf("result %+v", res)
	}
	for _, c := range chunksOf(t, s, job) {
		if m := c.ManifestData(); m.ClosedBy != ClosedByInterval && m.ClosedBy != ClosedByStop {
			t.Errorf("chunk %s closed by %s", c.Start, m.ClosedBy)
		}
	}
	if st := status.State(); st.Running {
		t.Error("status says running after the stop")
	}
	archiveOnce(t, s, job, src) // what the stop did not read yet
	sameEvents(t, storedEvents(t, s, job, nil), serverEvents(t, srv, from))
}

// After a quiet time the flush interval has long passed: the first
// transaction is stored at once, but the events that open a new file
// (format description, Gtid_list, checkpoint) do not make chunks of their
// own; they wait in the open chunk for a transaction.
func TestArchiveBinlogNoChunkOfFileFraming(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.Binlog.FlushInterval = 5 * time.Millisecond
	srv := binlogfake.New(1)
	b := backupAt(t, s, job, srv, backuptest.T0)
	from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
	src := &fakeSource{srv: srv}
	status := &ArchiveStatus{}
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: src.open, Retry: true, Status: status})
	srv.Commit(1)
	waitChunks(t, s, job, 1)
	srv.Rotate()
	want := int64(len(serverEvents(t, srv, from)))
	for src.read.Load() < want {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // several flush intervals
	if st := status.State(); !st.PendingSince.IsZero() {
		t.Errorf("a new file's first events count as lag: %+v", st)
	}
	srv.Commit(2)
	waitChunks(t, s, job, 3)
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range chunksOf(t, s, job) {
		if m := c.ManifestData(); m.Transactions == 0 && m.ClosedBy != ClosedByRotate {
			t.Errorf("chunk %s of %d events without a transaction, closed by %s", c.Start, m.Events, m.ClosedBy)
		}
	}
	archiveOnce(t, s, job, src)
	sameEvents(t, storedEvents(t, s, job, nil), serverEvents(t, srv, from))
}

// The server restarts (its file ends with a stop event, the next one
// starts without a rotate) and drops the archiver: the archiver starts
// again and the chain stays continuous across the switch.
func TestArchiveBinlogServerRestart(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.Binlog.FlushInterval = 10 * time.Millisecond
	srv := binlogfake.New(1)
	b := backupAt(t, s, job, srv, backuptest.T0)
	from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
	src := &fakeSource{srv: srv}
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: src.open, Retry: true, RetryDelay: time.Millisecond})
	srv.Commit(1)
	waitChunks(t, s, job, 1)
	srv.Commit(2)
	srv.Restart()
	srv.Commit(3)
	srv.Restart()
	srv.Rotate()
	srv.Commit(4)
	waitChunks(t, s, job, 4)
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	archiveOnce(t, s, job, src)
	sameEvents(t, storedEvents(t, s, job, nil), serverEvents(t, srv, from))
	ch := AnalyzeBinlog(job.Name, chunksOf(t, s, job), nil)
	if len(ch.Gaps) != 0 || len(ch.Problems) != 0 || len(ch.segments) != 1 {
		t.Fatalf("chain across restarts: gaps %+v problems %q segments %d", ch.Gaps, ch.Problems, len(ch.segments))
	}
	if src.opens.Load() < 3 {
		t.Errorf("the archiver connected %d times; the server dropped it twice", src.opens.Load())
	}
}

// A chunk that ends with the stop event of a file (the archiver was
// stopped just after the server's shutdown) holds all of that file: when
// the file is purged before the archiver runs again, the next file follows
// without a gap.
func TestArchiveBinlogPurgedAfterItsStopEvent(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	src := &fakeSource{srv: srv}
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: src.open, Retry: true})
	srv.Commit(1)
	srv.Shutdown()
	first := srv.Current()
	want := int64(len(serverEvents(t, srv, binlog.BinlogPos{File: "binlog.000001", Pos: 4})) - 3) // from the backup's position
	for src.read.Load() < want {
		time.Sleep(time.Millisecond)
	}
	if res, err := stop(); err != nil || res.Chunks != 1 || res.Position != first {
		t.Fatalf("stopped after the stop event: %+v %v", res, err)
	}
	if m := chunksOf(t, s, job)[0].ManifestData(); !m.EndsFile || m.Next != first || m.ClosedBy != ClosedByStop {
		t.Fatalf("chunk %+v", m)
	}
	srv.Startup()
	srv.Commit(2)
	srv.Purge("binlog.000002")
	if res := archiveOnce(t, s, job, src); len(res.Gaps) != 0 {
		t.Fatalf("a gap after a fully archived file: %+v", res.Gaps)
	}
	ch := AnalyzeBinlog(job.Name, chunksOf(t, s, job), nil)
	if len(ch.Gaps) != 0 || len(ch.segments) != 1 {
		t.Fatalf("chain: %+v", ch.Gaps)
	}
	got := storedEvents(t, s, job, nil)
	var tail []evRec
	for _, e := range got {
		if e.pos.File == "binlog.000002" {
			tail = append(tail, e)
		}
	}
	sameEvents(t, tail, serverEvents(t, srv, binlog.BinlogPos{File: "binlog.000002", Pos: 4}))
}

// The target fails for a while: the archiver keeps trying, and once the
// target is back it catches up from the server with nothing lost.
func TestArchiveBinlogTargetDown(t *testing.T) {
	base := mem.New()
	job := binlogJob()
	job.Binlog.FlushInterval = 5 * time.Millisecond
	srv := binlogfake.New(1)
	b := backupAt(t, base, job, srv, backuptest.T0)
	from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
	var down atomic.Bool
	var failed atomic.Int32
	s := &flakyStore{Store: base, fail: func(string) error {
		if down.Load() {
			failed.Add(1)
			return errors.New("503 Service Unavailable")
		}
		return nil
	}}
	status := &ArchiveStatus{}
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: (&fakeSource{srv: srv}).open, Retry: true, RetryDelay: time.Millisecond, Status: status})
	srv.Commit(1)
	waitChunks(t, base, job, 1)
	down.Store(true)
	for i := 0; i < 5; i++ {
		srv.Commit(10)
		if i == 2 {
			srv.Rotate()
		}
	}
	for failed.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if st := status.State(); st.PendingSince.IsZero() {
		t.Error("events are waiting but the status shows no lag")
	}
	down.Store(false)
	srv.Commit(1)
	deadline := time.Now().Add(20 * time.Second)
	for status.State().Position != srv.Current() {
		if time.Now().After(deadline) {
			t.Fatalf("the archiver did not catch up: at %s, server at %s", status.State().Position, srv.Current())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, storedEvents(t, base, job, nil), serverEvents(t, srv, from))
}

// Logs purged on the server before they were archived are a gap: the
// archiver says so and goes on from the oldest log; the chain shows the
// gap, the backup before it has no window to the end, verify fails for
// it; a backup after the gap has a clean window.
func TestArchiveBinlogPurgeGap(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	old := backupAt(t, s, job, srv, backuptest.T0)
	src := &fakeSource{srv: srv}
	srv.Commit(1)
	archiveOnce(t, s, job, src)
	before := srv.Current()
	srv.Commit(2)
	srv.Rotate()
	srv.Commit(3)
	srv.Rotate()
	srv.Purge(srv.Current().File)
	srv.Commit(4)
	res, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: src.open})
	if len(res.Gaps) != 1 || res.Gaps[0].From != before || res.Gaps[0].To != (binlog.BinlogPos{File: "binlog.000003", Pos: 4}) {
		t.Fatalf("gaps %+v", res.Gaps)
	}
	// The run fails (the operator must act), naming what is missing and
	// that no backup is after the gap yet.
	var ge *GapError
	if !errors.As(err, &ge) || !errors.Is(err, ErrBinlogGap) || ge.Resume != "" ||
		!strings.Contains(err.Error(), before.String()+" up to binlog.000003:4 is missing") || !strings.Contains(err.Error(), "take a new backup") {
		t.Fatalf("a run across purged logs returned %v", err)
	}
	newer := backupAt(t, s, job, srv, backuptest.T0.Add(time.Hour))
	// With a backup after the gap, the error names it.
	a, err := newArchiver(ArchiveOptions{Job: job, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	a.res.Gaps = res.Gaps
	if err := a.gapError(context.Background()); !errors.As(err, &ge) || ge.Resume != newer.ID || !strings.Contains(err.Error(), "works again from backup "+newer.ID+" on") {
		t.Errorf("the gap error with a backup after the gap: %v", err)
	}
	srv.Commit(5)
	archiveOnce(t, s, job, src)
	backups, _ := backup.ListBackups(context.Background(), s, job, false)
	ch := AnalyzeBinlog(job.Name, chunksOf(t, s, job), backups)
	if len(ch.Gaps) != 1 || ch.Gaps[0].From != before || ch.Gaps[0].To.File != "binlog.000003" || !strings.Contains(ch.Gaps[0].Reason, "purged") {
		t.Fatalf("gaps %+v", ch.Gaps)
	}
	if len(ch.Windows) != 2 || ch.Windows[0].Backup != newer.ID || !ch.Windows[0].Recoverable || ch.Windows[0].UntilPosition != srv.Current() ||
		ch.Windows[1].Backup != old.ID || !ch.Windows[1].Recoverable || ch.Windows[1].UntilPosition != before {
		t.Fatalf("windows %+v", ch.Windows)
	}
	for _, b := range backups {
		vr, err := VerifyBinlog(context.Background(), s, job, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.ID == old.ID && (vr.OK() || !strings.Contains(strings.Join(vr.Problems, "\n"), "gap")) {
			t.Errorf("verify of the backup before the gap: %q", vr.Problems)
		}
		if b.ID == newer.ID && !vr.OK() {
			t.Errorf("verify of the backup after the gap: %q", vr.Problems)
		}
	}
}

// The archiver refuses to extend a chain it cannot trust, and an archive
// that is ahead of the server (its log was reset).
func TestArchiveBinlogRefusesABrokenChain(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	src := &fakeSource{srv: srv}
	srv.Commit(1)
	archiveOnce(t, s, job, src)
	c := chunksOf(t, s, job)[0]
	good := s.Bytes(c.Manifest)
	s.Replace(c.Manifest, []byte("{not json"))
	srv.Commit(1)
	if _, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: src.open}); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("corrupt newest manifest: %v", err)
	}
	s.Replace(c.Manifest, good)
	fresh := binlogfake.New(1) // RESET MASTER: the server starts over at binlog.000001
	if _, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: (&fakeSource{srv: fresh}).open}); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("server behind the archive: %v", err)
	}
}

// Stopped while a transaction is open, the archiver stores its chunk up to
// the last complete transaction; when the open one was too large to be
// held back (part of it already written), the chunk is abandoned. Either
// way the next run reads the rest again and nothing is lost.
func TestArchiveBinlogStopInsideATransaction(t *testing.T) {
	defer func(n int) { pendingLimit = n }(pendingLimit)
	pendingLimit = 200
	for _, tc := range []struct {
		rows   int
		chunks int
	}{{rows: 10, chunks: 1}, {rows: 300, chunks: 0}} {
		s := mem.New()
		job := binlogJob()
		srv := binlogfake.New(1)
		b := backupAt(t, s, job, srv, backuptest.T0)
		from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
		src := &fakeSource{srv: srv}
		stop := startArchiver(t, ArchiveOptions{Job: job, Store: s, OpenSource: src.open, Retry: true})
		srv.Commit(5)
		srv.OpenTransaction(tc.rows)
		want := int64(len(serverEvents(t, srv, from)))
		for src.read.Load() < want {
			time.Sleep(time.Millisecond)
		}
		res, err := stop()
		if err != nil || res.Chunks != tc.chunks {
			t.Fatalf("rows %d: stopped with %d chunks (want %d): %v", tc.rows, res.Chunks, tc.chunks, err)
		}
		if tc.chunks == 1 {
			if m := chunksOf(t, s, job)[0].ManifestData(); m.ClosedBy != ClosedByStop || m.Transactions != 1 {
				t.Errorf("chunk stored at the stop: %+v", m)
			}
		}
		srv.EndTransaction()
		archiveOnce(t, s, job, src)
		sameEvents(t, storedEvents(t, s, job, nil), serverEvents(t, srv, from))
	}
}

// A chunk closed by size waits for the end of the transaction it is in.
func TestArchiveBinlogLargeTransactions(t *testing.T) {
	defer func(n int) { pendingLimit = n }(pendingLimit)
	pendingLimit = 100
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(1)
	b := backupAt(t, s, job, srv, backuptest.T0)
	from := binlog.BinlogPos{File: b.Consistency.BinlogFile, Pos: b.Consistency.BinlogPos}
	for i := 0; i < 5; i++ {
		srv.Commit(300)
	}
	res, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, OpenSource: (&fakeSource{srv: srv}).open, MaxChunkBytes: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks < 3 {
		t.Errorf("%d chunks of at most ~500 bytes for 5 transactions of 300", res.Chunks)
	}
	for _, c := range chunksOf(t, s, job) {
		if m := c.ManifestData(); m.Transactions < 1 || (m.ClosedBy != ClosedBySize && m.ClosedBy != ClosedByOnce) {
			t.Errorf("chunk %s: %d transactions, closed by %s", c.Start, m.Transactions, m.ClosedBy)
		}
	}
	sameEvents(t, storedEvents(t, s, job, nil), serverEvents(t, srv, from))
}

// Windows and gaps from chunk lists made by hand.
// analyzeFixture is a chain with a restart, a corrupt chunk (a gap), an
// overlap and a partial chunk, and backups before, inside and after it.
func analyzeFixture(t *testing.T) (chunks []*ChunkInfo, backups []*catalog.BackupInfo, p func(int, uint64) binlog.BinlogPos, at func(int) time.Time) {
	p = func(f int, pos uint64) binlog.BinlogPos {
		return binlog.BinlogPos{File: fmt.Sprintf("binlog.%06d", f), Pos: pos}
	}
	at = func(min int) time.Time { return backuptest.T0.Add(time.Duration(min) * time.Minute) }
	chunk := func(follows, start, end, next binlog.BinlogPos, first, last int) *ChunkInfo {
		return &ChunkInfo{Status: catalog.StatusComplete, Start: start, End: end, Next: next, Follows: follows, FirstEvent: at(first), LastEvent: at(last), EndGTID: "0-1-" + fmt.Sprint(last)}
	}
	chunks = []*ChunkInfo{
		chunk(p(1, 100), p(1, 100), p(1, 500), p(1, 500), 0, 5),
		chunk(p(1, 500), p(1, 500), p(1, 900), p(2, 4), 5, 10),  // ends with a rotate
		chunk(p(1, 950), p(2, 4), p(2, 300), p(2, 300), 10, 12), // follows a server restart (the switch was seen)
		{Status: catalog.StatusCorrupt, Start: p(2, 300), Problem: "bad"},
		chunk(p(2, 700), p(2, 700), p(2, 800), p(2, 800), 20, 21), // after a gap (the corrupt chunk)
		chunk(p(2, 800), p(2, 800), p(2, 900), p(2, 900), 21, 22),
		chunk(p(2, 850), p(2, 850), p(2, 990), p(2, 990), 22, 23), // overlaps
		{Status: catalog.StatusPartial, Start: p(3, 4)},
	}
	backup := func(id string, pos binlog.BinlogPos, started int) *catalog.BackupInfo {
		return catalog.Complete(catalog.BackupInfo{ID: id, StartedAt: at(started)}, &catalog.Manifest{Consistency: catalog.ConsistencyInfo{BinlogFile: pos.File, BinlogPos: pos.Pos}})
	}
	backups = []*catalog.BackupInfo{
		backup("after-end", p(3, 100), 30),
		backup("in-second-run", p(2, 800), 21),
		backup("in-gap", p(2, 500), 15),
		backup("at-rotate", p(1, 900), 10),
		backup("in-first", p(1, 200), 1),
		backup("before", p(1, 50), 0),
		{ID: "partial", Complete: false},
	}
	return chunks, backups, p, at
}

func TestAnalyzeBinlog(t *testing.T) {
	chunks, backups, p, _ := analyzeFixture(t)
	ch := AnalyzeBinlog("app", chunks, backups)
	if len(ch.Gaps) != 1 || ch.Gaps[0].From != p(2, 300) || ch.Gaps[0].To != p(2, 700) || ch.Gaps[0].Reason != "chunk binlog.000002:300 is corrupt" {
		t.Errorf("gaps %+v", ch.Gaps)
	}
	if len(ch.Problems) != 2 || !strings.Contains(ch.Problems[0], "corrupt") || !strings.Contains(ch.Problems[1], "overlaps") {
		t.Errorf("problems %q", ch.Problems)
	}
	type w struct {
		ok     bool
		until  binlog.BinlogPos
		chunks int
	}
	want := map[string]w{
		"after-end":     {false, binlog.BinlogPos{}, 0},
		"in-second-run": {true, p(2, 900), 1}, // it starts where the first chunk of the run ends
		"in-gap":        {false, binlog.BinlogPos{}, 0},
		"at-rotate":     {true, p(2, 300), 2},
		"in-first":      {true, p(2, 300), 3},
		"before":        {false, binlog.BinlogPos{}, 0},
	}
	if len(ch.Windows) != len(want) {
		t.Fatalf("%d windows", len(ch.Windows))
	}
	for _, win := range ch.Windows {
		wn := want[win.Backup]
		if win.Recoverable != wn.ok || win.UntilPosition != wn.until || win.Chunks != wn.chunks || (!wn.ok && win.Problem == "") {
			t.Errorf("window of %s: %+v, want %+v", win.Backup, win, wn)
		}
	}
	if g := ch.GapsAfter(p(1, 200)); len(g) != 1 {
		t.Errorf("gaps after the first backup: %+v", g)
	}
	if g := ch.GapsAfter(p(2, 800)); len(g) != 0 {
		t.Errorf("gaps after the second run: %+v", g)
	}
}

// Retention keeps every chunk from the one holding the oldest kept
// backup's position, removes older chunks and old partial ones, and with
// a dry run removes nothing.
func TestPruneBinlogChunks(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.Retention = backup.Retention{KeepLast: 1}
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	src := &fakeSource{srv: srv}
	srv.Commit(1)
	srv.Rotate()
	srv.Commit(1)
	archiveOnce(t, s, job, src) // chunks binlog.000001, binlog.000002 (to the current position)
	srv.Commit(1)
	srv.Rotate()
	keep := backupAt(t, s, job, srv, backuptest.T0.Add(24*time.Hour)) // in binlog.000003 at its start
	srv.Commit(1)
	archiveOnce(t, s, job, src)
	keepPos := binlog.BinlogPos{File: keep.Consistency.BinlogFile, Pos: keep.Consistency.BinlogPos}
	// A killed archiver's data object, old enough to go.
	partial := chunkBase(BinlogPrefix(job.Prefix, job.Name), binlog.BinlogPos{File: "binlog.000009", Pos: 4}) + ".bin.zst"
	s.SetClock(backuptest.FixedClock(time.Now().Add(-7 * time.Hour)))
	if _, err := s.Put(context.Background(), partial, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	s.SetClock(time.Now)
	before := chunksOf(t, s, job)
	dry, err := Prune(context.Background(), backup.PruneOptions{Job: job, Store: s, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunksOf(t, s, job)) != len(before) || dry.Binlog.KeepFrom != keepPos || len(dry.Binlog.Chunks) == 0 || len(dry.Binlog.Partial) != 1 {
		t.Fatalf("dry run: %+v", dry.Binlog)
	}
	res, err := Prune(context.Background(), backup.PruneOptions{Job: job, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	after := chunksOf(t, s, job)
	for _, c := range after {
		if !c.Complete() || binlog.CompareBinlogPos(c.Next, keepPos) <= 0 {
			t.Errorf("chunk %s (%s, next %s) left by prune", c.Start, c.Status, c.Next)
		}
	}
	if len(after)+len(res.Binlog.Chunks)+len(res.Binlog.Partial) != len(before) {
		t.Errorf("%d chunks before, %d after, %d+%d removed", len(before), len(after), len(res.Binlog.Chunks), len(res.Binlog.Partial))
	}
	backups, _ := backup.ListBackups(context.Background(), s, job, false)
	ch := AnalyzeBinlog(job.Name, after, backups)
	if len(backups) != 1 || len(ch.Windows) != 1 || !ch.Windows[0].Recoverable || ch.Windows[0].UntilPosition != srv.Current() {
		t.Fatalf("the kept backup's window after prune: %+v", ch.Windows)
	}
}

// verify reads every chunk of the window: damaged data is a problem.
func TestVerifyBinlogFindsDamage(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.Compression = compress.None
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	srv.Commit(50)
	srv.Commit(50)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	c := chunksOf(t, s, job)[0]
	data := s.Bytes(c.Object)
	data[len(data)-6] ^= 1 // in the body of the last event
	s.Replace(c.Object, data)
	backups, _ := backup.ListBackups(context.Background(), s, job, false)
	vr, err := VerifyBinlog(context.Background(), s, job, backups[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if vr.OK() || !strings.Contains(strings.Join(vr.Problems, "\n"), "checksum") {
		t.Fatalf("damaged chunk: %q", vr.Problems)
	}
	s.Delete(context.Background(), c.Object)
	vr, err = VerifyBinlog(context.Background(), s, job, backups[0], nil)
	if err != nil || vr.OK() {
		t.Fatalf("missing chunk data: %+v %v", vr, err)
	}
}

// Manifests are authenticated like the backups' when the job has a key.
func TestChunkManifestMAC(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.ManifestKeyFile = backuptest.WriteKey(t, "0123456789abcdef0123")
	srv := binlogfake.New(1)
	backupAt(t, s, job, srv, backuptest.T0)
	srv.Commit(5)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	c := chunksOf(t, s, job)[0]
	if !c.Complete() || c.ManifestData().MAC == "" {
		t.Fatalf("chunk %+v", c)
	}
	backuptest.EditManifest(t, s, c.Manifest, func(m map[string]any) { m["end_gtid"] = "0-1-999" })
	c = chunksOf(t, s, job)[0]
	if c.Status != catalog.StatusUntrusted {
		t.Fatalf("tampered chunk manifest: %s", c.Status)
	}
}

// testJob is the job the pipeline's tests use: the defaults, named app.
func testJob() backup.Job {
	j := backup.DefaultJob()
	j.Name = "app"
	return j
}
