package binlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
)

func TestBinlogPositions(t *testing.T) {
	order := []string{"binlog.000009", "binlog.000010", "binlog.999999", "binlog.1000000"}
	for i := range order {
		for j := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := binlog.CompareBinlogFiles(order[i], order[j]); got != want {
				t.Errorf("CompareBinlogFiles(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if c := binlog.CompareBinlogPos(binlog.BinlogPos{File: "b.000002", Pos: 4}, binlog.BinlogPos{File: "b.000001", Pos: 900}); c != 1 {
		t.Errorf("a later file compares %d", c)
	}
	for in, want := range map[string]string{"binlog.000041": "binlog.000042", "mysql-bin.999999": "mysql-bin.1000000", "noext": ""} {
		if got := binlog.NextBinlogFile(in); got != want {
			t.Errorf("NextBinlogFile(%s) = %q, want %q", in, got, want)
		}
	}
	p, err := binlog.ParseBinlogPos("my:odd:name.000003:1234")
	if err != nil || p.File != "my:odd:name.000003" || p.Pos != 1234 || p.String() != "my:odd:name.000003:1234" {
		t.Errorf("ParseBinlogPos = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "binlog.000001", "binlog.000001:", ":4", "binlog.000001:3", "binlog.000001:x"} {
		if _, err := binlog.ParseBinlogPos(bad); err == nil {
			t.Errorf("ParseBinlogPos(%q) accepted", bad)
		}
	}
	if !binlog.SameBinlogSeries("binlog.000001", "binlog.000009") || binlog.SameBinlogSeries("binlog.000001", "mysql-bin.000001") {
		t.Error("SameBinlogSeries")
	}
}

// dumpAll reads a fake dump until it has nothing more to send.
func dumpAll(t *testing.T, s *binlogfake.Server, from binlog.BinlogPos) []*binlog.BinlogEvent {
	t.Helper()
	d, err := s.Dump(from)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []*binlog.BinlogEvent
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		ev, err := d.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
}

// The decoder follows files and positions, and says after which events no
// transaction is open: after an XID, a COMMIT, a standalone DDL statement,
// and between transactions.
func TestBinlogDecoderBoundaries(t *testing.T) {
	s := binlogfake.New(7)
	g1 := s.Commit(10)
	s.DDL("CREATE TABLE t (a INT)")
	s.Statements("INSERT INTO t VALUES (1)", "UPDATE t SET a = 2")
	s.Rotate()
	g4 := s.Commit(3)
	evs := dumpAll(t, s, binlog.BinlogPos{File: "binlog.000001", Pos: 4})
	var got []string
	var pos binlog.BinlogPos
	for _, ev := range evs {
		mark := ""
		if ev.Boundary {
			mark = "|"
		}
		if ev.Artificial {
			mark = "*"
		} else {
			if pos.File == ev.File && ev.Start != pos.Pos {
				t.Errorf("%s at %s:%d does not follow %s", ev.TypeName(), ev.File, ev.Start, pos)
			}
			pos = binlog.BinlogPos{File: ev.File, Pos: ev.End}
		}
		got = append(got, ev.TypeName()+mark)
	}
	want := []string{"Rotate*", "Format_desc|", "Gtid_list|", "Binlog_checkpoint|",
		"Gtid", "Annotate_rows", "Table_map", "Write_rows_v1", "Xid|",
		"Gtid", "Query|",
		"Gtid", "Query", "Query", "Query|",
		"Rotate|", "Rotate*", "Format_desc|", "Gtid_list|", "Binlog_checkpoint|",
		"Gtid", "Annotate_rows", "Table_map", "Write_rows_v1", "Xid|"}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if evs[4].GTID != g1 || evs[len(evs)-5].GTID != g4 {
		t.Errorf("GTIDs %q %q, want %q %q", evs[4].GTID, evs[len(evs)-5].GTID, g1, g4)
	}
	if r := evs[15].Rotate; r.File != "binlog.000002" || r.Pos != 4 {
		t.Errorf("rotate to %s", r)
	}
	if st := evs[18].GTIDState; st != "0-7-3" {
		t.Errorf("Gtid_list of the second file = %q, want 0-7-3", st)
	}
	tr, _ := binlog.NewGTIDTracker(binlog.FlavorMariaDB, "", false)
	for _, ev := range evs {
		if err := tr.Observe(ev); err != nil {
			t.Fatal(err)
		}
	}
	if tr.String() != s.GTID() || !tr.Known() {
		t.Errorf("tracker at %q (known %v), server at %q", tr.String(), tr.Known(), s.GTID())
	}
}

// A dump from the middle of a file resends the format description with
// end_log_pos 0; ForFileStart makes it the valid first event of a file
// whose events keep their original positions, which ReadBinlogFile reads.
func TestBinlogMidFileChunk(t *testing.T) {
	s := binlogfake.New(7)
	s.Commit(5)
	mid := s.Current()
	s.Commit(7)
	s.DDL("DROP TABLE t")
	evs := dumpAll(t, s, mid)
	if !evs[0].Artificial || evs[0].Type != binlog.EventRotate || !evs[1].Artificial || evs[1].Type != binlog.EventFormatDesc {
		t.Fatalf("a mid-file dump starts with %s %s", evs[0].TypeName(), evs[1].TypeName())
	}
	fde := evs[1].Format.ForFileStart()
	if end := binary.LittleEndian.Uint32(fde[13:]); end != uint32(4+len(fde)) {
		t.Errorf("end_log_pos %d, want %d", end, 4+len(fde))
	}
	if crc32.ChecksumIEEE(fde[:len(fde)-4]) != binary.LittleEndian.Uint32(fde[len(fde)-4:]) {
		t.Error("the rewritten format description has a wrong checksum")
	}
	chunk := append(bytes.Clone(binlog.BinlogMagic), fde...)
	for _, ev := range evs[2:] {
		chunk = append(chunk, ev.Raw...)
	}
	var n int
	var firstOff int64
	err := binlog.ReadBinlogFile(bytes.NewReader(chunk), mid.File, func(ev *binlog.BinlogEvent, off int64) error {
		if n == 1 {
			firstOff = off
			if ev.Start != mid.Pos {
				t.Errorf("first event at %d, want %d", ev.Start, mid.Pos)
			}
		}
		n++
		return nil
	})
	if err != nil || n != 1+len(evs)-2 || firstOff != int64(4+len(fde)) {
		t.Fatalf("ReadBinlogFile: %d events, first at offset %d: %v", n, firstOff, err)
	}
	// Byte for byte, the events are the server's.
	data := s.FileData(mid.File)
	if !bytes.Equal(chunk[firstOff:], data[mid.Pos:]) {
		t.Error("the chunk's events differ from the server's file")
	}
}

// The server sets the in-use flag of the format description in place while
// it writes a file: its checksum is the one of the flag cleared.
func TestBinlogInUseFlag(t *testing.T) {
	s := binlogfake.New(7)
	s.Commit(1)
	data := s.FileData("binlog.000001")
	data[4+17] |= 1
	var flags uint16
	err := binlog.ReadBinlogFile(bytes.NewReader(data), "binlog.000001", func(ev *binlog.BinlogEvent, _ int64) error {
		if ev.Type == binlog.EventFormatDesc {
			flags = ev.Flags
			if f := ev.Format.ForFileStart(); f[17]&1 != 0 {
				t.Error("ForFileStart keeps the in-use flag")
			}
		}
		return nil
	})
	if err != nil || flags&1 == 0 {
		t.Fatalf("a file being written: flags %#x, %v", flags, err)
	}
}

func TestBinlogDecoderRefusesDamage(t *testing.T) {
	s := binlogfake.New(7)
	s.Commit(5)
	s.Commit(5)
	data := s.FileData("binlog.000001")
	bad := bytes.Clone(data)
	bad[len(bad)-10] ^= 0xff // inside the last event
	err := binlog.ReadBinlogFile(bytes.NewReader(bad), "binlog.000001", func(*binlog.BinlogEvent, int64) error { return nil })
	if !errors.Is(err, binlog.ErrBinlogCorrupt) {
		t.Errorf("damaged event: %v", err)
	}
	if err := binlog.ReadBinlogFile(bytes.NewReader(data[:len(data)-3]), "binlog.000001", func(*binlog.BinlogEvent, int64) error { return nil }); !errors.Is(err, binlog.ErrBinlogCorrupt) {
		t.Errorf("truncated file: %v", err)
	}
	if err := binlog.ReadBinlogFile(bytes.NewReader([]byte("-- not a binlog")), "x", func(*binlog.BinlogEvent, int64) error { return nil }); !errors.Is(err, binlog.ErrBinlogCorrupt) {
		t.Errorf("not a binlog: %v", err)
	}
	// An event missing from a stream is a discontinuity.
	evs := dumpAll(t, s, binlog.BinlogPos{File: "binlog.000001", Pos: 4})
	dec := binlog.NewBinlogDecoder(binlog.BinlogPos{File: "binlog.000001", Pos: 4})
	var derr error
	for i, ev := range evs {
		if i == 6 {
			continue
		}
		if _, derr = dec.Decode(ev.Raw); derr != nil {
			break
		}
	}
	if !errors.Is(derr, binlog.ErrBinlogCorrupt) {
		t.Errorf("a hole in the stream: %v", derr)
	}
}

func TestGTIDState(t *testing.T) {
	st, err := binlog.ParseGTIDState("1-2-30, 0-1-100")
	if err != nil || st.String() != "0-1-100,1-2-30" {
		t.Fatalf("ParseGTIDState = %q, %v", st.String(), err)
	}
	if !st.Includes("0-5-100") || st.Includes("0-1-101") || st.Includes("2-1-1") {
		t.Error("Includes")
	}
	for _, bad := range []string{"0-1", "a-b-c", "0-1-2-3"} {
		if _, err := binlog.ParseGTIDState(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	tr, err := binlog.NewGTIDTracker(binlog.FlavorMySQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Observe(&binlog.BinlogEvent{Type: binlog.EventGTID, GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:6"}); err != nil {
		t.Fatal(err)
	}
	if tr.String() != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6" {
		t.Errorf("MySQL tracker at %q", tr.String())
	}
}
