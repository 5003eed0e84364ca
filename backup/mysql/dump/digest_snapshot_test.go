package dump

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Tables changed since the point leave the record (read or not); a table
// that could not be read and did not change is an error, never dropped.
func TestLeaveOutChanged(t *testing.T) {
	a, b, c, d := TableRef{"app", "a"}, TableRef{"app", "b"}, TableRef{"app", "c"}, TableRef{"app", "d"}
	out := map[TableRef]TableDigest{a: {Rows: 1}, b: {Rows: 2}}
	failed := map[TableRef]error{c: errors.New("Table definition has changed"), d: errors.New("Unknown column 'v'")}
	_, err := leaveOutChanged(out, failed, []TableRef{b, c}, nil)
	if err == nil || !strings.Contains(err.Error(), "Unknown column 'v' (`app`.`d` was not changed since the backup's point)") {
		t.Fatalf("an unchanged table that failed: %v", err)
	}
	out = map[TableRef]TableDigest{a: {Rows: 1}, b: {Rows: 2}}
	failed = map[TableRef]error{c: errors.New("Table definition has changed")}
	skipped, err := leaveOutChanged(out, failed, []TableRef{b, c, {"app", "dropped"}}, []TableRef{{"app", "aria"}})
	if err != nil || len(out) != 1 || out[a].Rows != 1 || !slices.Equal(skipped, []TableRef{{"app", "aria"}, b, c}) {
		t.Fatalf("out %v, skipped %v, err %v", out, skipped, err)
	}
}
