package replay

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// recorder is the target of the unit tests: it keeps what is sent, one
// entry per round trip, and fails the statement containing failOn.
type recorder struct {
	sent   []string
	failOn string
}

func (r *recorder) ExecContext(_ context.Context, q string, _ ...any) (sql.Result, error) {
	r.sent = append(r.sent, q)
	if r.failOn != "" && strings.Contains(q, r.failOn) {
		return nil, errors.New("Error 1062: Duplicate entry")
	}
	return nil, nil
}

func testClient(rec *recorder) (*batchedClient, *[]Applied) {
	var applied []Applied
	b := &batchedClient{ctx: context.Background(), cancel: func() {}, x: rec, text: newBinlogText(), max: 1 << 20,
		ledger: "ops_verify_t_replay", progress: func(a Applied) { applied = append(applied, a) }}
	b.text.r.onSend, b.text.r.onCommand = b.statement, b.command
	return b, &applied
}

func pos(p uint64) binlog.BinlogPos { return binlog.BinlogPos{File: "binlog.000001", Pos: p} }

// mariadb-binlog's output for a file holding: a batch of two ROW
// transactions (one BEGIN, one COMMIT: the Replayer joined them), a DDL
// statement, a STATEMENT-format transaction alone. What goes to the
// server: the header statements one by one; the batch in two round trips
// (BINLOG statements joined into one, which ends its packet; then the
// ledger row and COMMIT); the DDL alone and its ledger row; the last
// transaction's statements in one packet with its ledger row before its
// COMMIT. "/*!*/" (what \C leaves) goes alone, GTID lines never.
const batchedText = `/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
DELIMITER /*!*/;
# at 4
#261207 20:54:22 server id 3308  end_log_pos 256 	Start: binlog v 4
BINLOG '
Zm9ybWF0
'/*!*/;
# at 256
#261207 20:54:22 server id 3308  end_log_pos 298 	GTID 0-3308-7 trans
/*M!100001 SET @@session.gtid_seq_no=7*//*!*/;
START TRANSACTION
/*!*/;
# at 298
# at 340
#261207 20:54:22 server id 3308  end_log_pos 400 	Write_rows: table id 18 flags: STMT_END_F

BINLOG '
dGFibGUx
cm93czE=
'/*!*/;
# at 400
# at 440
#261207 20:54:22 server id 3308  end_log_pos 500 	Update_rows: table id 18 flags: STMT_END_F

BINLOG '
dGFibGUy
cm93czI=
'/*!*/;
# at 500
#261207 20:54:22 server id 3308  end_log_pos 531 	Xid = 13
COMMIT/*!*/;
# at 531
#261207 20:54:22 server id 3308  end_log_pos 573 	GTID 0-3308-8 ddl
/*M!100001 SET @@session.gtid_seq_no=8*//*!*/;
# at 573
#261207 20:54:22 server id 3308  end_log_pos 680 	Query	thread_id=7
SET TIMESTAMP=1796676862/*!*/;
/*!\C utf8mb4 *//*!*/;
ALTER TABLE t ADD COLUMN w INT
/*!*/;
# at 680
#261207 20:54:22 server id 3308  end_log_pos 722 	GTID 0-3308-9 trans
/*M!100001 SET @@session.gtid_seq_no=9*//*!*/;
START TRANSACTION
/*!*/;
# at 722
#261207 20:54:22 server id 3308  end_log_pos 830 	Query	thread_id=7
SET TIMESTAMP=1796676863/*!*/;
INSERT INTO t VALUES ('# at 9', '/*!*/;')
/*!*/;
# at 830
#261207 20:54:22 server id 3308  end_log_pos 861 	Xid = 14
COMMIT/*!*/;
DELIMITER ;
# End of log file
ROLLBACK /* added by mysqlbinlog */;
`

func batchedMarks(b1, ddl, tx *Applied) *marks {
	m := newMarks()
	m.put(4, mark{})
	for _, off := range []int64{256, 298, 340, 400, 440} {
		m.put(off, mark{pack: true})
	}
	m.put(500, mark{pack: true, commit: b1})
	m.put(531, mark{})
	m.put(573, mark{commit: ddl})
	m.put(680, mark{pack: true})
	m.put(722, mark{pack: true})
	m.put(830, mark{pack: true, commit: tx})
	return m
}

func TestBatchedClientPackets(t *testing.T) {
	rec := &recorder{}
	b, applied := testClient(rec)
	b1, ddl, tx := &Applied{Groups: 2, End: pos(531)}, &Applied{Groups: 3, End: pos(680)}, &Applied{Groups: 4, End: pos(861)}
	if err := b.run(strings.NewReader(batchedText), batchedMarks(b1, ddl, tx)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/",
		"BINLOG '\nZm9ybWF0\n'",
		"START TRANSACTION;\nBINLOG '\ndGFibGUx\ncm93czE=\n\ndGFibGUy\ncm93czI=\n'",
		"INSERT INTO `ops_verify_t_replay`.applied VALUES (2, 'binlog.000001', 531);\nCOMMIT",
		"SET TIMESTAMP=1796676862",
		"SET NAMES utf8mb4",
		"/*!*/",
		"ALTER TABLE t ADD COLUMN w INT",
		"INSERT INTO `ops_verify_t_replay`.applied VALUES (3, 'binlog.000001', 680)",
		"START TRANSACTION;\nSET TIMESTAMP=1796676863;\nINSERT INTO t VALUES ('# at 9', '/*!*/;');\nINSERT INTO `ops_verify_t_replay`.applied VALUES (4, 'binlog.000001', 861);\nCOMMIT",
		"ROLLBACK", // the client leaves comments out
	}
	if strings.Join(rec.sent, "\n--\n") != strings.Join(want, "\n--\n") {
		t.Errorf("round trips:\n%s\nwant:\n%s", strings.Join(rec.sent, "\n--\n"), strings.Join(want, "\n--\n"))
	}
	if len(*applied) != 3 || (*applied)[0] != *b1 || (*applied)[1] != *ddl || (*applied)[2] != *tx {
		t.Errorf("applied %v, want %v %v %v", *applied, *b1, *ddl, *tx)
	}
}

// A statement the server refuses stops everything after it: nothing more
// is sent, and the last group applied is the one before.
func TestBatchedClientStopsAtTheFirstError(t *testing.T) {
	rec := &recorder{failOn: "ALTER TABLE"}
	b, applied := testClient(rec)
	b1 := &Applied{Groups: 2, End: pos(531)}
	err := b.run(strings.NewReader(batchedText), batchedMarks(b1, &Applied{Groups: 3, End: pos(680)}, &Applied{Groups: 4, End: pos(861)}))
	if err == nil || !strings.Contains(err.Error(), "refused a replayed statement (ALTER TABLE t ADD COLUMN w INT)") {
		t.Fatalf("err %v", err)
	}
	if last := rec.sent[len(rec.sent)-1]; !strings.HasPrefix(last, "ALTER TABLE") {
		t.Errorf("sent after the error: %q", last)
	}
	if len(*applied) != 1 || (*applied)[0] != *b1 || b.done != *b1 {
		t.Errorf("applied %v (done %v), want only %v", *applied, b.done, *b1)
	}
	if b.failure() == nil {
		t.Error("failure() is nil")
	}
}

// A "# at" line that is not one of the events written (inside the text,
// or an offset ops never wrote) changes nothing; events mysqlbinlog
// prints no line for end when a later one starts.
func TestMarksUpTo(t *testing.T) {
	m := newMarks()
	c := &Applied{Groups: 1}
	m.put(4, mark{})
	m.put(100, mark{pack: true})
	m.put(200, mark{pack: true, commit: c})
	m.put(300, mark{})
	if passed, at := m.upTo(50); len(passed) != 1 || at != nil {
		t.Fatalf("upTo(50): %v %v", passed, at)
	}
	passed, at := m.upTo(300)
	if len(passed) != 2 || passed[1].m.commit != c || at == nil || at.off != 300 {
		t.Fatalf("upTo(300): %v %v", passed, at)
	}
	if passed, at := m.upTo(300); len(passed) != 0 || at != nil {
		t.Fatalf("upTo(300) again: %v %v", passed, at)
	}
}

func TestBatchable(t *testing.T) {
	gtid := func(flags byte) []byte {
		e := make([]byte, binlog.HeaderLen+13)
		e[4] = binlog.EventMariaGTID
		e[binlog.HeaderLen+12] = flags
		return e
	}
	ev := func(typ byte) []byte {
		e := make([]byte, binlog.HeaderLen+8)
		e[4] = typ
		return e
	}
	rows, xid, query := ev(30), ev(binlog.EventXID), ev(binlog.EventQuery)
	for _, c := range []struct {
		name   string
		events [][]byte
		want   bool
	}{
		{"InnoDB transaction", [][]byte{gtid(gtidTransactional), ev(binlog.EventTableMap), rows, xid}, true},
		{"statements", [][]byte{gtid(gtidTransactional | 0x08), query, query, xid}, true},
		{"not transactional (MyISAM)", [][]byte{gtid(0), query, ev(binlog.EventQuery)}, false},
		{"DDL", [][]byte{gtid(gtidStandalone | gtidDDL), query}, false},
		{"transactional DDL flag", [][]byte{gtid(gtidTransactional | gtidDDL), query, xid}, false},
		{"XA prepared", [][]byte{gtid(gtidTransactional | gtidPreparedXA), query, ev(binlog.EventXAPrepare)}, false},
		{"XA in the middle", [][]byte{gtid(gtidTransactional), ev(binlog.EventXAPrepare), xid}, false},
		{"two transactions", [][]byte{gtid(gtidTransactional), rows, xid, gtid(gtidTransactional), rows, xid}, false},
		{"MySQL GTID", [][]byte{ev(binlog.EventGTID), query, rows, xid}, false},
		{"truncated GTID", [][]byte{ev(binlog.EventMariaGTID), rows, xid}, false},
		{"alone", [][]byte{xid}, false},
	} {
		if got := batchable(c.events); got != c.want {
			t.Errorf("%s: batchable %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBinlogStatementForms(t *testing.T) {
	for _, c := range []struct {
		s           string
		plain, rows bool
	}{
		{"BINLOG '\nQUJD\nREVG==\n'", true, true},
		{"BINLOG @binlog_fragment_0, @binlog_fragment_1", false, true},
		{"binlog 'QUJD'", false, true},
		{"BINLOG 'QU JD'", false, true},
		{"BINLOG '\nQUJD'' OR 1'", false, true},
		{"SET @binlog_fragment_0='QUJD'", false, false},
		{"INSERT INTO t VALUES ('binlog.000001')", false, false},
		{"BINLOGS", false, false},
		{"INSERT INTO t VALUES (1)", false, false},
	} {
		_, plain := binlogBody([]byte(c.s))
		if plain != c.plain || mayApplyRows([]byte(c.s)) != c.rows {
			t.Errorf("%q: plain %v, may apply rows %v; want %v, %v", c.s, plain, mayApplyRows([]byte(c.s)), c.plain, c.rows)
		}
	}
	for s, want := range map[string]bool{"/*!*/": true, "/* x */": true, "/*!40019 SET @a=1*/": false, "SET @a=1": false, "/*!*/ SELECT 1": false} {
		if emptyStatement([]byte(s)) != want {
			t.Errorf("emptyStatement(%q) = %v", s, !want)
		}
	}
}

// A logged statement starting with a line that reads as one of
// mariadb-binlog's event markers is refused (the batched replay follows
// those lines between statements); inside a statement such a line is data.
func TestReplayTextRefusesMarkerLines(t *testing.T) {
	for q, refused := range map[string]bool{
		"# at 5\nINSERT INTO t VALUES (1)":            true,
		"  # at 5\nINSERT INTO t VALUES (1)":          true,
		"# End of log file\nINSERT INTO t VALUES (1)": true,
		"INSERT INTO t VALUES (1)\n# at 5\n":          false,
		"INSERT INTO t VALUES ('\n# at 5\n')":         false,
		"INSERT INTO t VALUES ('# at 5')":             false,
	} {
		err := replayText(q, sqltext.LexState{})
		if (err != nil) != refused || refused && !strings.Contains(err.Error(), "event markers") {
			t.Errorf("%q: err %v, want refused %v", q, err, refused)
		}
	}
}
