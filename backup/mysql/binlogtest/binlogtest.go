// Package binlogtest holds helpers of the binary log integration tests:
// the events of a server's binary log read from its files and from SHOW
// BINLOG EVENTS, the events of archived chunk files, and an event-by-event
// comparison. It imports only backup/mysql/binlog (and database/sql): like the
// engine, it must not import the pipeline, backup/storage or cmd.
package binlogtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opsteam/ops/backup/mysql/binlog"
)

// Event is one event of a binary log: where it is and its bytes.
type Event struct {
	Pos  binlog.BinlogPos // file and start position
	End  uint64           // end_log_pos
	Type string
	Raw  []byte // nil when read from SHOW BINLOG EVENTS
}

func (e Event) String() string {
	return fmt.Sprintf("%s %s..%d (%d bytes)", e.Type, e.Pos, e.End, len(e.Raw))
}

// Files lists the server's binary log files (SHOW BINARY LOGS), oldest first.
func Files(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		var name sql.NullString
		vals[0] = &name
		for i := 1; i < len(cols); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		out = append(out, name.String)
	}
	return out, rows.Err()
}

// DirEvents reads the server's binary log files in dir (its datadir), in
// the order of files, from the position from to the end of the last file
// (or to the position until when it is not zero).
func DirEvents(dir string, files []string, from, until binlog.BinlogPos) ([]Event, error) {
	var out []Event
	for _, f := range files {
		if binlog.CompareBinlogFiles(f, from.File) < 0 || (!until.IsZero() && binlog.CompareBinlogFiles(f, until.File) > 0) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		err = binlog.ReadBinlogFile(bytes.NewReader(data), f, func(ev *binlog.BinlogEvent, off int64) error {
			if (f == from.File && uint64(off) < from.Pos) || (!until.IsZero() && f == until.File && ev.Start >= until.Pos) {
				return nil
			}
			out = append(out, Event{Pos: binlog.BinlogPos{File: f, Pos: ev.Start}, End: ev.End, Type: ev.TypeName(), Raw: ev.Raw})
			return nil
		})
		if err != nil {
			// The file being written may end in the middle of an event.
			return out, fmt.Errorf("%s: %w", f, err)
		}
	}
	return out, nil
}

// ShowEvents is SHOW BINLOG EVENTS over files from the position from (to
// until when it is not zero): positions and types as the server sees them.
func ShowEvents(ctx context.Context, db *sql.DB, files []string, from, until binlog.BinlogPos) ([]Event, error) {
	var out []Event
	for _, f := range files {
		if binlog.CompareBinlogFiles(f, from.File) < 0 || (!until.IsZero() && binlog.CompareBinlogFiles(f, until.File) > 0) {
			continue
		}
		rows, err := db.QueryContext(ctx, "SHOW BINLOG EVENTS IN '"+f+"'")
		if err != nil {
			return nil, err
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			m := map[string]string{}
			for i, c := range cols {
				m[c] = vals[i].String
			}
			pos, _ := strconv.ParseUint(m["Pos"], 10, 64)
			end, _ := strconv.ParseUint(m["End_log_pos"], 10, 64)
			if (f == from.File && pos < from.Pos) || (!until.IsZero() && f == until.File && pos >= until.Pos) {
				continue
			}
			out = append(out, Event{Pos: binlog.BinlogPos{File: f, Pos: pos}, End: end, Type: m["Event_type"]})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ChunkEvents reads an archived chunk (a binary log file, decompressed and
// decrypted) whose first event is at start in the server's binary log. The
// format description at its start is left out when start is not the
// beginning of the file (it is the archiver's copy, not an event of the
// log there).
func ChunkEvents(r io.Reader, start binlog.BinlogPos) ([]Event, error) {
	var out []Event
	err := binlog.ReadBinlogFile(r, start.File, func(ev *binlog.BinlogEvent, off int64) error {
		if off == 4 && start.Pos > 4 {
			return nil
		}
		out = append(out, Event{Pos: binlog.BinlogPos{File: ev.File, Pos: ev.Start}, End: ev.End, Type: ev.TypeName(), Raw: ev.Raw})
		return nil
	})
	return out, err
}

// Compare checks got against want event by event: same positions, and the
// same bytes where both have them (the format description's in-use flag
// and checksum are left out: the server clears the flag when it sends a
// file it is still writing). It returns the first difference.
func Compare(got, want []Event) error {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Errorf("event %d: %s is on the server but not in the archive (%d archived, %d on the server)", i, want[i], len(got), len(want))
		case i >= len(want):
			return fmt.Errorf("event %d: %s is archived but not on the server (%d archived, %d on the server)", i, got[i], len(got), len(want))
		case got[i].Pos != want[i].Pos || got[i].End != want[i].End:
			return fmt.Errorf("event %d: archived %s, the server has %s", i, got[i], want[i])
		case got[i].Raw != nil && want[i].Raw != nil && !sameBytes(got[i], want[i]):
			return fmt.Errorf("event %d: %s: archived bytes differ from the server's", i, got[i])
		}
	}
	return nil
}

func sameBytes(a, b Event) bool {
	if a.Type != "Format_desc" {
		return bytes.Equal(a.Raw, b.Raw)
	}
	if len(a.Raw) != len(b.Raw) || len(a.Raw) < 23 {
		return false
	}
	x, y := bytes.Clone(a.Raw), bytes.Clone(b.Raw)
	for _, z := range [][]byte{x, y} {
		z[17] &^= 1 // LOG_EVENT_BINLOG_IN_USE_F
		copy(z[len(z)-4:], []byte{0, 0, 0, 0})
	}
	return bytes.Equal(x, y)
}
