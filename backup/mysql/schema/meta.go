package schema

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"slices"
	"strconv"
	"strings"
)

// DBMeta is everything dumped for one database.
type DBMeta struct {
	Name      string
	CreateSQL string
	Collation string // default collation of the database
	Tables    []*TableMeta
	Sequences []*SeqMeta
	Views     []*ViewMeta
	Routines  []*ObjDDL
	Triggers  []*ObjDDL
	Events    []*ObjDDL
}

type ColMeta struct {
	Name     string
	DataType string // information_schema DATA_TYPE
}

type TableMeta struct {
	DB, Name  string
	Engine    string
	CreateSQL string
	Columns   []ColMeta // dumped columns (generated ones left out), ordinal order
	PK        []ColMeta // primary key columns (key order)
	AvgRowLen int64
	EstRows   int64
	EstBytes  int64 // DATA_LENGTH: the server's estimate of the data's size
}

// Chunkable reports whether the table can be read in primary-key ranges.
func (t *TableMeta) Chunkable() bool {
	if len(t.PK) == 0 {
		return false
	}
	for _, c := range t.PK {
		switch c.DataType {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal",
			"char", "varchar", "binary", "varbinary", "date", "datetime", "timestamp", "time", "year":
		default:
			return false
		}
	}
	return true
}

type SeqMeta struct {
	Name      string
	CreateSQL string
	NextValue string // next_not_cached_value
}

type ViewMeta struct {
	Name      string
	CreateSQL string
	CSClient  string
	Collation string
	Columns   []string
}

// PlaceholderSelect is the select list of the view's placeholder (one
// constant column per column of the view, "1 AS `c`"), created before the
// data so that views and routines may name views in any order; the real
// view replaces it after the data.
func (v *ViewMeta) PlaceholderSelect() string {
	cols := v.Columns
	if len(cols) == 0 {
		cols = []string{"ops_placeholder"}
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "1 AS " + sqltext.QuoteIdent(c)
	}
	return strings.Join(parts, ", ")
}

// ObjDDL is a trigger, routine or event with the session settings it was
// created under.
type ObjDDL struct {
	Kind        string // TRIGGER, PROCEDURE, FUNCTION, EVENT
	Name        string
	Table       string // triggers: the table
	SQLMode     string
	CSClient    string
	Collation   string
	DBCollation string
	TimeZone    string // events
	Body        string // the CREATE statement, bytes as stored (read with character_set_results=binary)
}

// ListDatabases returns every database of the server, sorted.
func ListDatabases(ctx context.Context, q conn.Querier) ([]string, error) {
	rows, err := conn.QueryRows(ctx, q, "SHOW DATABASES")
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	var out []string
	for _, r := range rows {
		for _, v := range r {
			out = append(out, v.String)
		}
	}
	slices.Sort(out)
	return out, nil
}

func IsFloatType(dt string) bool { return dt == "float" }

// ReadDatabase reads the metadata of one database on conn (inside the
// snapshot). excluded reports excluded tables/views.
func ReadDatabase(ctx context.Context, dbConn *sql.Conn, name string, excluded func(db, table string) bool) (*DBMeta, error) {
	d, r, err := ReadTables(ctx, dbConn, name, excluded)
	if err != nil {
		return nil, err
	}
	// Objects whose text must come back byte for byte: read with
	// character_set_results=binary, replayed under their own
	// character_set_client (like mysqldump).
	if _, err := dbConn.ExecContext(ctx, "SET SESSION character_set_results = binary"); err != nil {
		return nil, r.wrap("SET character_set_results", err)
	}
	defer dbConn.ExecContext(context.WithoutCancel(ctx), "SET SESSION character_set_results = utf8mb4") //nolint:errcheck
	for _, step := range []func(*DBMeta) error{r.viewDDL, r.routines, r.triggers, r.events} {
		if err := step(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// ReadTables reads a database and its tables with their columns (not its
// views, routines, triggers and events: those need more privileges).
func ReadTables(ctx context.Context, dbConn *sql.Conn, name string, excluded func(db, table string) bool) (*DBMeta, *metaReader, error) {
	r := &metaReader{ctx: ctx, conn: dbConn, name: name, qdb: sqltext.QuoteString(name), excluded: excluded}
	d := &DBMeta{Name: name}
	if err := r.database(d); err != nil {
		return nil, nil, err
	}
	cols, err := r.columns()
	if err != nil {
		return nil, nil, err
	}
	if err := r.tables(d, cols); err != nil {
		return nil, nil, err
	}
	return d, r, nil
}

// metaReader reads one database's metadata on one connection.
type metaReader struct {
	ctx      context.Context
	conn     *sql.Conn
	name     string // the database
	qdb      string // its name as a string literal
	excluded func(db, table string) bool
}

func (r *metaReader) wrap(what string, err error) error {
	return fmt.Errorf("database %s: %s: %w", sqltext.QuoteIdent(r.name), what, err)
}

// one runs a SHOW CREATE … that must return exactly one row.
func (r *metaReader) one(what, query string) (map[string]sql.NullString, error) {
	rows, err := conn.QueryRows(r.ctx, r.conn, query)
	if err != nil {
		return nil, r.wrap(what, err)
	}
	if len(rows) != 1 {
		return nil, r.wrap(what, fmt.Errorf("no row"))
	}
	return rows[0], nil
}

func (r *metaReader) database(d *DBMeta) error {
	row, err := r.one("SHOW CREATE DATABASE", "SHOW CREATE DATABASE "+sqltext.QuoteIdent(r.name))
	if err != nil {
		return err
	}
	d.CreateSQL = conn.Col(row, "Create Database")
	if sr, err := conn.QueryRows(r.ctx, r.conn, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "+r.qdb); err == nil && len(sr) == 1 {
		d.Collation = conn.Col(sr[0], "DEFAULT_COLLATION_NAME")
	}
	return nil
}

// columnInfo is every table's dumped columns, every view's column names
// and every table's primary key.
type columnInfo struct {
	table map[string][]ColMeta
	view  map[string][]string
	pk    map[string][]string
}

func (r *metaReader) columns() (*columnInfo, error) {
	colRows, err := conn.QueryRows(r.ctx, r.conn, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, COALESCE(GENERATION_EXPRESSION,'') AS GEN FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "+r.qdb+" ORDER BY TABLE_NAME, ORDINAL_POSITION")
	if err != nil {
		return nil, r.wrap("list columns", err)
	}
	ci := &columnInfo{table: map[string][]ColMeta{}, view: map[string][]string{}, pk: map[string][]string{}}
	for _, row := range colRows {
		t, c := conn.Col(row, "TABLE_NAME"), conn.Col(row, "COLUMN_NAME")
		ci.view[t] = append(ci.view[t], c)
		if IsGeneratedColumn(conn.Col(row, "EXTRA"), conn.Col(row, "GEN")) {
			continue // generated (or system-versioning) column: the server computes it
		}
		ci.table[t] = append(ci.table[t], ColMeta{Name: c, DataType: strings.ToLower(conn.Col(row, "DATA_TYPE"))})
	}
	pkRows, err := conn.QueryRows(r.ctx, r.conn, "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "+r.qdb+" AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX")
	if err != nil {
		return nil, r.wrap("list primary keys", err)
	}
	for _, row := range pkRows {
		ci.pk[conn.Col(row, "TABLE_NAME")] = append(ci.pk[conn.Col(row, "TABLE_NAME")], conn.Col(row, "COLUMN_NAME"))
	}
	return ci, nil
}

// tables reads the tables, sequences and views (their DDL comes later).
func (r *metaReader) tables(d *DBMeta, cols *columnInfo) error {
	tables, err := conn.QueryRows(r.ctx, r.conn, "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE,'') AS ENGINE, COALESCE(AVG_ROW_LENGTH,0) AS AVG_ROW_LENGTH, COALESCE(TABLE_ROWS,0) AS TABLE_ROWS, COALESCE(DATA_LENGTH,0) AS DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+r.qdb)
	if err != nil {
		return r.wrap("list tables", err)
	}
	slices.SortFunc(tables, func(a, b map[string]sql.NullString) int {
		return strings.Compare(conn.Col(a, "TABLE_NAME"), conn.Col(b, "TABLE_NAME"))
	})
	// Views are read relative to their own database so that references to
	// its tables come out unqualified (this is what lets a restore rename
	// the database).
	if _, err := r.conn.ExecContext(r.ctx, "USE "+sqltext.QuoteIdent(r.name)); err != nil {
		return r.wrap("USE", err)
	}
	for _, row := range tables {
		tn := conn.Col(row, "TABLE_NAME")
		if r.excluded(r.name, tn) {
			continue
		}
		switch conn.Col(row, "TABLE_TYPE") {
		case "BASE TABLE", "SYSTEM VERSIONED":
			t, err := r.table(row, cols)
			if err != nil {
				return err
			}
			d.Tables = append(d.Tables, t)
		case "SEQUENCE":
			sq, err := r.sequence(tn)
			if err != nil {
				return err
			}
			d.Sequences = append(d.Sequences, sq)
		case "VIEW":
			d.Views = append(d.Views, &ViewMeta{Name: tn, Columns: cols.view[tn]})
		}
	}
	return nil
}

func (r *metaReader) table(row map[string]sql.NullString, cols *columnInfo) (*TableMeta, error) {
	tn := conn.Col(row, "TABLE_NAME")
	t := &TableMeta{DB: r.name, Name: tn, Engine: conn.Col(row, "ENGINE")}
	t.AvgRowLen, _ = strconv.ParseInt(conn.Col(row, "AVG_ROW_LENGTH"), 10, 64)
	t.EstRows, _ = strconv.ParseInt(conn.Col(row, "TABLE_ROWS"), 10, 64)
	t.EstBytes, _ = strconv.ParseInt(conn.Col(row, "DATA_LENGTH"), 10, 64)
	cr, err := r.one("SHOW CREATE TABLE "+sqltext.QuoteIdent(tn), "SHOW CREATE TABLE "+sqltext.QuoteIdent(r.name)+"."+sqltext.QuoteIdent(tn))
	if err != nil {
		return nil, err
	}
	t.CreateSQL = conn.Col(cr, "Create Table")
	t.Columns = cols.table[tn]
	byName := map[string]ColMeta{}
	for _, c := range t.Columns {
		byName[c.Name] = c
	}
	for _, p := range cols.pk[tn] {
		c, ok := byName[p]
		if !ok { // generated column in the PK: do not chunk
			t.PK = nil
			break
		}
		t.PK = append(t.PK, c)
	}
	return t, nil
}

func (r *metaReader) sequence(tn string) (*SeqMeta, error) {
	qt := sqltext.QuoteIdent(r.name) + "." + sqltext.QuoteIdent(tn)
	cr, err := conn.QueryRows(r.ctx, r.conn, "SHOW CREATE SEQUENCE "+qt)
	if err != nil {
		return nil, r.wrap("SHOW CREATE SEQUENCE "+sqltext.QuoteIdent(tn), err)
	}
	s := &SeqMeta{Name: tn, CreateSQL: conn.Col(cr[0], "Create Table")}
	vr, err := conn.QueryRows(r.ctx, r.conn, "SELECT next_not_cached_value FROM "+qt)
	if err != nil {
		return nil, r.wrap("read sequence "+sqltext.QuoteIdent(tn), err)
	}
	if len(vr) == 1 {
		s.NextValue = conn.Col(vr[0], "next_not_cached_value")
	}
	return s, nil
}

func (r *metaReader) viewDDL(d *DBMeta) error {
	for _, v := range d.Views {
		cr, err := r.one("SHOW CREATE VIEW "+sqltext.QuoteIdent(v.Name), "SHOW CREATE VIEW "+sqltext.QuoteIdent(v.Name))
		if err != nil {
			return err
		}
		v.CreateSQL = conn.Col(cr, "Create View")
		v.CSClient = conn.Col(cr, "character_set_client")
		v.Collation = conn.Col(cr, "collation_connection")
	}
	return nil
}

func (r *metaReader) routines(d *DBMeta) error {
	rr, err := conn.QueryRows(r.ctx, r.conn, "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = "+r.qdb+" AND ROUTINE_TYPE IN ('PROCEDURE','FUNCTION')")
	if err != nil {
		return r.wrap("list routines", err)
	}
	slices.SortFunc(rr, func(a, b map[string]sql.NullString) int {
		if c := strings.Compare(conn.Col(a, "ROUTINE_TYPE"), conn.Col(b, "ROUTINE_TYPE")); c != 0 {
			return c // FUNCTION before PROCEDURE
		}
		return strings.Compare(conn.Col(a, "ROUTINE_NAME"), conn.Col(b, "ROUTINE_NAME"))
	})
	for _, row := range rr {
		kind, rn := conn.Col(row, "ROUTINE_TYPE"), conn.Col(row, "ROUTINE_NAME")
		o, err := showCreate(r.ctx, r.conn, kind, r.name, rn)
		if err != nil {
			return r.wrap("SHOW CREATE "+kind+" "+sqltext.QuoteIdent(rn), err)
		}
		d.Routines = append(d.Routines, o)
	}
	return nil
}

// triggers reads the triggers in firing order per table/timing/event.
func (r *metaReader) triggers(d *DBMeta) error {
	tr, err := conn.QueryRows(r.ctx, r.conn, "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = "+r.qdb+" ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER")
	if err != nil {
		return r.wrap("list triggers", err)
	}
	for _, row := range tr {
		if r.excluded(r.name, conn.Col(row, "EVENT_OBJECT_TABLE")) {
			continue
		}
		o, err := showCreate(r.ctx, r.conn, "TRIGGER", r.name, conn.Col(row, "TRIGGER_NAME"))
		if err != nil {
			return r.wrap("SHOW CREATE TRIGGER "+sqltext.QuoteIdent(conn.Col(row, "TRIGGER_NAME")), err)
		}
		o.Table = conn.Col(row, "EVENT_OBJECT_TABLE")
		d.Triggers = append(d.Triggers, o)
	}
	return nil
}

func (r *metaReader) events(d *DBMeta) error {
	er, err := conn.QueryRows(r.ctx, r.conn, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = "+r.qdb+" ORDER BY EVENT_NAME")
	if err != nil {
		return r.wrap("list events", err)
	}
	for _, row := range er {
		o, err := showCreate(r.ctx, r.conn, "EVENT", r.name, conn.Col(row, "EVENT_NAME"))
		if err != nil {
			return r.wrap("SHOW CREATE EVENT "+sqltext.QuoteIdent(conn.Col(row, "EVENT_NAME")), err)
		}
		d.Events = append(d.Events, o)
	}
	return nil
}

// showCreate runs SHOW CREATE {TRIGGER|PROCEDURE|FUNCTION|EVENT}.
func showCreate(ctx context.Context, dbConn *sql.Conn, kind, db, name string) (*ObjDDL, error) {
	rows, err := conn.QueryRows(ctx, dbConn, "SHOW CREATE "+kind+" "+sqltext.QuoteIdent(db)+"."+sqltext.QuoteIdent(name))
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("no row (missing privilege?)")
	}
	r := rows[0]
	o := &ObjDDL{Kind: kind, Name: name, SQLMode: conn.Col(r, "sql_mode"), CSClient: conn.Col(r, "character_set_client"),
		Collation: conn.Col(r, "collation_connection"), DBCollation: conn.Col(r, "Database Collation"), TimeZone: conn.Col(r, "time_zone")}
	var body sql.NullString
	switch kind {
	case "TRIGGER":
		body = r["SQL Original Statement"]
	case "PROCEDURE":
		body = r["Create Procedure"]
	case "FUNCTION":
		body = r["Create Function"]
	case "EVENT":
		body = r["Create Event"]
	}
	if !body.Valid || body.String == "" {
		return nil, fmt.Errorf("the server returned no definition (the account needs SELECT on mysql.proc / SHOW_ROUTINE, TRIGGER or EVENT privilege)")
	}
	o.Body = body.String
	return o, nil
}

// IsGeneratedColumn reads information_schema.COLUMNS.EXTRA and
// GENERATION_EXPRESSION: MariaDB says VIRTUAL GENERATED / STORED GENERATED
// (PERSISTENT in old versions) and ROW START / ROW END for system
// versioning; Config 8 says VIRTUAL GENERATED / STORED GENERATED, and
// DEFAULT_GENERATED for an expression default, which is an ordinary column.
func IsGeneratedColumn(extra, genExpr string) bool {
	e := strings.ToUpper(extra)
	e = strings.ReplaceAll(e, "DEFAULT_GENERATED", "")
	if strings.TrimSpace(genExpr) != "" {
		return true
	}
	for _, w := range []string{"VIRTUAL", "STORED GENERATED", "PERSISTENT", "ROW START", "ROW END"} {
		if strings.Contains(e, w) {
			return true
		}
	}
	return false
}
