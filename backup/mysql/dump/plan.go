package dump

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"iter"
	"math/big"
	"slices"
	"strings"
)

// plan emits every part of the stream, in order, through emit.
func (d *Dumper) plan(ctx context.Context, metas []*schema.DBMeta, emit func(*part) bool) error {
	static := func(db, table, text string) error {
		if text == "" {
			return nil
		}
		p, err := d.staticPart(db, table, text)
		if err != nil {
			return err
		}
		if !emit(p) {
			return context.Cause(ctx)
		}
		return nil
	}
	if err := static("", "", d.Header()); err != nil {
		return err
	}
	// One section per database (layout.go): schema, data, routines,
	// views, triggers and events, after one CREATE DATABASE and one USE.
	ei := d.Srv.ExecuteImmediate()
	sections := layoutSections(metas)
	for _, sc := range sections {
		m := sc.m
		if err := static(m.Name, "", SchemaSQL(m)); err != nil {
			return err
		}
		if err := d.planInterleaved(ctx, m.Tables, emit); err != nil {
			return err
		}
		views := slices.DeleteFunc(slices.Clone(m.Views), func(v *schema.ViewMeta) bool { return slices.Contains(sc.deferred, v) })
		for _, text := range []string{RoutinesSQL(m, ei), ViewsSQL(views, ""), TriggersEventsSQL(m, ei)} {
			if err := static(m.Name, "", text); err != nil {
				return err
			}
		}
	}
	// Views of databases naming each other in a cycle (see layoutSections).
	for _, sc := range sections {
		if err := static(sc.m.Name, "", ViewsSQL(sc.deferred, useLine(sc.m.Name))); err != nil {
			return err
		}
	}
	return static("", "", Footer())
}

// planInterleaved emits the data parts of a database's tables, taking
// turns between as many tables as the dump has connections (lanes): part 1
// of table A, part 1 of table B, part 2 of A, … When a lane's table ends,
// the lane goes on with the next table not yet started. The output order
// depends only on the tables and their ranges, not on timing. A restore
// with as many connections then finds a different table in each stretch of
// the stream and loads the tables side by side, each on one connection
// (see the restore's restoreExec.pick); the stock client reads it as
// before, every INSERT naming its table. After a table's last part comes its end-of-data
// marker (sqltext.EndOfDataSQL).
func (d *Dumper) planInterleaved(ctx context.Context, tables []*schema.TableMeta, emit func(*part) bool) error {
	type lane struct {
		t    *schema.TableMeta
		next func() (*part, bool)
		stop func()
		err  error // planTable's, once next has reported the end
	}
	lanes := make([]*lane, max(len(d.workers), 1))
	queue := tables
	defer func() {
		for _, l := range lanes {
			if l != nil {
				l.stop()
			}
		}
	}()
	start := func() *lane {
		if len(queue) == 0 {
			return nil
		}
		t := queue[0]
		queue = queue[1:]
		l := &lane{t: t}
		l.next, l.stop = iter.Pull(iter.Seq[*part](func(yield func(*part) bool) {
			l.err = d.planTable(ctx, t, yield)
		}))
		return l
	}
	for {
		active := false
		for i := range lanes {
			for {
				if lanes[i] == nil {
					if lanes[i] = start(); lanes[i] == nil {
						break
					}
				}
				p, ok := lanes[i].next()
				if !ok {
					t, err := lanes[i].t, lanes[i].err
					lanes[i] = nil
					if err != nil {
						return err
					}
					// The table's last part is in the stream: say so, for a
					// restore to index it while the other tables load.
					end, err := d.staticPart(t.DB, "", sqltext.EndOfDataSQL(t.Name))
					if err != nil {
						return err
					}
					end.ends = t.Name
					if !emit(end) {
						return context.Cause(ctx)
					}
					continue
				}
				active = true
				if !emit(p) {
					return context.Cause(ctx)
				}
				break
			}
		}
		if !active {
			return nil
		}
	}
}

// chunkRows returns the number of rows per range for t.
func (d *Dumper) chunkRows(t *schema.TableMeta) int64 {
	if d.opts.ChunkRows > 0 {
		return d.opts.ChunkRows
	}
	avg := t.AvgRowLen
	if avg < 64 {
		avg = 64
	}
	return max(defaultChunkBytes/avg, 1000)
}

// planTable emits the data parts of one table: one part, or one per
// primary-key range found by keyset pagination in the snapshot.
func (d *Dumper) planTable(ctx context.Context, t *schema.TableMeta, emit func(*part) bool) error {
	newPart := func(where string, first bool) *part {
		p := &part{db: t.DB, table: t.Name, tbl: t, where: where, first: first, frames: make(chan []byte, framesPerPart)}
		if t.Chunkable() {
			p.order = pkList(t)
		}
		return p
	}
	if len(t.Columns) == 0 {
		return nil
	}
	if !t.Chunkable() || len(d.workers) < 2 {
		if !emit(newPart("", true)) {
			return context.Cause(ctx)
		}
		return nil
	}
	n := d.chunkRows(t)
	if isIntegerType(t.PK[0].DataType) {
		return d.planIntRanges(ctx, t, n, newPart, emit)
	}
	var prev []string // literals of the previous upper bound
	first := true
	for {
		q := "SELECT " + pkList(t) + " FROM " + sqltext.QuoteIdent(t.DB) + "." + sqltext.QuoteIdent(t.Name)
		if prev != nil {
			q += " WHERE " + keysetGT(t.PK, prev)
		}
		q += " ORDER BY " + pkList(t) + fmt.Sprintf(" LIMIT 1 OFFSET %d", n-1)
		bound, err := d.boundary(ctx, q, len(t.PK))
		if err != nil {
			return fmt.Errorf("table %s.%s: find chunk boundary: %w", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name), err)
		}
		var where string
		switch {
		case prev == nil && bound == nil:
			where = ""
		case prev == nil:
			where = keysetLE(t.PK, bound)
		case bound == nil:
			where = keysetGT(t.PK, prev)
		default:
			where = "(" + keysetGT(t.PK, prev) + ") AND (" + keysetLE(t.PK, bound) + ")"
		}
		if !emit(newPart(where, first)) {
			return context.Cause(ctx)
		}
		first = false
		if bound == nil {
			break
		}
		prev = bound
	}
	if d.coordInTx() {
		if _, err := d.coord.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ops_plan"); err != nil {
			return fmt.Errorf("ROLLBACK TO SAVEPOINT: %w", err)
		}
	}
	return nil
}

func isIntegerType(dt string) bool {
	switch dt {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// planIntRanges splits a table whose primary key starts with an integer
// column into ranges of that column computed from MIN/MAX and the row
// estimate (two index dives instead of a keyset scan, which on InnoDB would
// read the whole clustered index once more). The first range is open below
// and the last open above, so every row is covered whatever the estimate.
func (d *Dumper) planIntRanges(ctx context.Context, t *schema.TableMeta, n int64, newPart func(string, bool) *part, emit func(*part) bool) error {
	c := sqltext.QuoteIdent(t.PK[0].Name)
	var minS, maxS sql.NullString
	q := "SELECT MIN(" + c + "), MAX(" + c + ") FROM " + sqltext.QuoteIdent(t.DB) + "." + sqltext.QuoteIdent(t.Name)
	if err := d.coord.QueryRowContext(ctx, q).Scan(&minS, &maxS); err != nil {
		return fmt.Errorf("table %s.%s: read key range: %w", sqltext.QuoteIdent(t.DB), sqltext.QuoteIdent(t.Name), err)
	}
	if d.coordInTx() {
		if _, err := d.coord.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ops_plan"); err != nil {
			return fmt.Errorf("ROLLBACK TO SAVEPOINT: %w", err)
		}
	}
	lo, ok1 := new(big.Int).SetString(minS.String, 10)
	hi, ok2 := new(big.Int).SetString(maxS.String, 10)
	var bounds []*big.Int
	if minS.Valid && maxS.Valid && ok1 && ok2 {
		span := new(big.Int).Sub(hi, lo)
		span.Add(span, big.NewInt(1))
		est := big.NewInt(t.EstRows)
		if t.EstRows <= 0 || (len(t.PK) == 1 && est.Cmp(span) > 0) {
			est = new(big.Int).Set(span) // a unique integer key has at most span rows
		}
		if est.Cmp(big.NewInt(n)) > 0 {
			// step = ceil(span * n / est)
			step := new(big.Int).Mul(span, big.NewInt(n))
			step.Add(step, new(big.Int).Sub(est, big.NewInt(1)))
			step.Quo(step, est)
			if step.Sign() <= 0 {
				step.SetInt64(1)
			}
			for b := new(big.Int).Add(lo, step); b.Cmp(hi) <= 0; b = new(big.Int).Add(b, step) {
				bounds = append(bounds, b)
			}
		}
	}
	if len(bounds) == 0 {
		if !emit(newPart("", true)) {
			return context.Cause(ctx)
		}
		return nil
	}
	for i := 0; i <= len(bounds); i++ {
		var where string
		switch {
		case i == 0:
			where = c + " < " + bounds[0].String()
		case i == len(bounds):
			where = c + " >= " + bounds[i-1].String()
		default:
			where = c + " >= " + bounds[i-1].String() + " AND " + c + " < " + bounds[i].String()
		}
		if !emit(newPart(where, i == 0)) {
			return context.Cause(ctx)
		}
	}
	return nil
}

// boundary runs a keyset query and returns the key as SQL literals (nil at
// the end of the table).
func (d *Dumper) boundary(ctx context.Context, q string, ncols int) ([]string, error) {
	var out []string
	err := d.coord.Raw(func(dc any) error {
		rows, err := dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		ct, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
		dest := make([]driver.Value, ncols)
		if err := rows.Next(dest); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		for i, v := range dest {
			k := sqltext.KindString
			if ct != nil {
				k = sqltext.KindOf(ct.ColumnTypeDatabaseTypeName(i))
			}
			b, err := sqltext.AppendDriverValue(nil, v, k)
			if err != nil {
				return err
			}
			out = append(out, string(b))
		}
		for rows.Next(dest) == nil { // drain (LIMIT 1)
		}
		return nil
	})
	return out, err
}

func pkList(t *schema.TableMeta) string {
	s := make([]string, len(t.PK))
	for i, c := range t.PK {
		s[i] = sqltext.QuoteIdent(c.Name)
	}
	return strings.Join(s, ",")
}

// keysetGT is (k1,…,kn) > (v1,…,vn) spelled out so that every server
// uses a range scan: k1>v1 OR (k1=v1 AND k2>v2) OR …
func keysetGT(pk []schema.ColMeta, v []string) string { return keysetCmp(pk, v, ">", false) }

// keysetLE is (k1,…,kn) <= (v1,…,vn).
func keysetLE(pk []schema.ColMeta, v []string) string { return keysetCmp(pk, v, "<", true) }

func keysetCmp(pk []schema.ColMeta, v []string, op string, orEqual bool) string {
	var terms []string
	for i := range pk {
		var t []string
		for j := 0; j < i; j++ {
			t = append(t, sqltext.QuoteIdent(pk[j].Name)+" = "+v[j])
		}
		o := op
		if orEqual && i == len(pk)-1 {
			o += "="
		}
		t = append(t, sqltext.QuoteIdent(pk[i].Name)+" "+o+" "+v[i])
		terms = append(terms, "("+strings.Join(t, " AND ")+")")
	}
	return strings.Join(terms, " OR ")
}

// selectList is the column list read for t (FLOAT columns widened to DOUBLE
// so that they are printed exactly).
func selectList(srv conn.ServerInfo, t *schema.TableMeta) string {
	s := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		s[i] = sqltext.QuoteIdent(c.Name)
		if schema.IsFloatType(c.DataType) && srv.CastFloat() {
			s[i] = "CAST(" + s[i] + " AS DOUBLE)"
		}
	}
	return strings.Join(s, ",")
}

func insertHead(t *schema.TableMeta) string {
	s := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		s[i] = sqltext.QuoteIdent(c.Name)
	}
	return "INSERT INTO " + sqltext.QuoteIdent(t.Name) + " (" + strings.Join(s, ",") + ") VALUES "
}
