package dump

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// The dump's progress reports add up: the parts' SQL sizes sum to the
// SQL written (each report's RawBytes is what was written, not what the
// readers produced ahead of the writer), every table's data ends exactly
// once, after its last part, the parts' rows add up to the tables' rows,
// and the plan names every dumped table with the server's estimate.
func TestDumpProgressReportsIT(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.UniqueName("ux_prog_")
	src, _, _ := mysqltest.Servers(t, db)
	s := mysqltest.NewSession(t, src)
	s.Exec("CREATE DATABASE "+sqltext.QuoteIdent(db), "USE "+sqltext.QuoteIdent(db),
		"CREATE TABLE big (id INT PRIMARY KEY, t TEXT)",
		"INSERT INTO big SELECT seq, REPEAT('compressible text ', 20) FROM seq_1_to_30000",
		"CREATE TABLE small (id INT PRIMARY KEY)", "INSERT INTO small VALUES (1),(2)",
		"CREATE TABLE empty (id INT PRIMARY KEY)", "ANALYZE TABLE big, small, empty")
	var plan []TableEstimate
	var reports []Progress
	var sum int64
	var out bytes.Buffer
	res, err := Dump(context.Background(), DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Threads: 2, ChunkRows: 5000,
		Planned: func(e []TableEstimate) {
			if reports != nil {
				t.Error("Planned after the first progress report")
			}
			plan = e
		},
		Progress: func(p Progress) { reports = append(reports, p); sum += p.PartBytes }}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum != res.RawBytes || reports[len(reports)-1].RawBytes != res.RawBytes {
		t.Fatalf("parts sum to %d, last report %d, dump wrote %d", sum, reports[len(reports)-1].RawBytes, res.RawBytes)
	}
	var names []string
	for _, e := range plan {
		names = append(names, e.Database+"."+e.Table)
		if e.Table == "big" && (e.Bytes < 1<<20 || e.Rows < 10000) {
			t.Errorf("estimate of big: %+v", e)
		}
	}
	if want := []string{db + ".big", db + ".empty", db + ".small"}; !slices.Equal(names, want) {
		t.Fatalf("plan %v, want %v", names, want)
	}
	ended := map[string]int{}
	rows := map[string]int64{}
	var bigParts int
	for _, p := range reports {
		if p.Table != "" && ended[p.Table] > 0 {
			t.Errorf("a part of %s after its end", p.Table)
		}
		if p.Table == "big" {
			bigParts++
		}
		rows[p.Table] += p.PartRows
		if p.Ended != "" {
			ended[p.Ended]++
		}
	}
	if ended["big"] != 1 || ended["small"] != 1 || ended["empty"] != 1 || len(ended) != 3 || bigParts < 2 {
		t.Fatalf("ends %v, parts of big %d", ended, bigParts)
	}
	if rows["big"] != 30000 || rows["small"] != 2 || rows["empty"] != 0 || rows[""] != 0 {
		t.Fatalf("rows reported %v", rows)
	}
}
