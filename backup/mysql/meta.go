package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// serverInfo describes the source server.
type serverInfo struct {
	Version   string // SELECT VERSION()
	MariaDB   bool
	Major     int
	Minor     int
	Patch     int
	MaxPacket int64
	LogBin    bool
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

func parseVersion(v string) (maj, min, patch int) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, 0
	}
	maj, _ = strconv.Atoi(m[1])
	min, _ = strconv.Atoi(m[2])
	patch, _ = strconv.Atoi(m[3])
	return
}

func (s serverInfo) atLeast(maj, min, patch int) bool {
	if s.Major != maj {
		return s.Major > maj
	}
	if s.Minor != min {
		return s.Minor > min
	}
	return s.Patch >= patch
}

// mysql8 reports Config (not MariaDB) 8.0 or later.
func (s serverInfo) mysql8() bool { return !s.MariaDB && s.atLeast(8, 0, 0) }

// castFloat reports whether CAST(x AS DOUBLE) is available (used to read
// FLOAT columns exactly: MariaDB prints FLOAT with 6 significant digits).
func (s serverInfo) castFloat() bool {
	if s.MariaDB {
		return s.atLeast(10, 4, 0)
	}
	return s.atLeast(8, 0, 17)
}

// executeImmediate reports MariaDB's EXECUTE IMMEDIATE (10.2.3+).
func (s serverInfo) executeImmediate() bool { return s.MariaDB && s.atLeast(10, 2, 3) }

// querier is what both *sql.Conn and *sql.DB offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func readServerInfo(ctx context.Context, q querier) (serverInfo, error) {
	var s serverInfo
	var logBin sql.NullString
	row, err := queryRows(ctx, q, "SELECT VERSION(), @@max_allowed_packet, @@log_bin")
	if err != nil {
		return s, fmt.Errorf("read server version: %w", err)
	}
	if len(row) != 1 {
		return s, fmt.Errorf("read server version: no row")
	}
	s.Version = row[0]["VERSION()"].String
	s.MaxPacket, _ = strconv.ParseInt(row[0]["@@max_allowed_packet"].String, 10, 64)
	logBin = row[0]["@@log_bin"]
	s.LogBin = logBin.String == "1" || strings.EqualFold(logBin.String, "ON")
	s.MariaDB = strings.Contains(strings.ToLower(s.Version), "mariadb")
	s.Major, s.Minor, s.Patch = parseVersion(s.Version)
	return s, nil
}

// queryRows runs a query and returns every row as a map from column name
// to value (NULL → Valid=false). For small metadata queries only.
func queryRows(ctx context.Context, q querier, query string) ([]map[string]sql.NullString, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]sql.NullString
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]sql.NullString, len(cols))
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// dbMeta is everything dumped for one database.
type dbMeta struct {
	Name      string
	CreateSQL string
	Collation string // default collation of the database
	Tables    []*tableMeta
	Sequences []*seqMeta
	Views     []*viewMeta
	Routines  []*objDDL
	Triggers  []*objDDL
	Events    []*objDDL
}

type colMeta struct {
	Name     string
	DataType string // information_schema DATA_TYPE
}

type tableMeta struct {
	DB, Name  string
	Engine    string
	CreateSQL string
	Columns   []colMeta // dumped columns (generated ones left out), ordinal order
	PK        []colMeta // primary key columns (key order)
	AvgRowLen int64
	EstRows   int64
	EstBytes  int64 // DATA_LENGTH: the server's estimate of the data's size
}

// chunkable reports whether the table can be read in primary-key ranges.
func (t *tableMeta) chunkable() bool {
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

type seqMeta struct {
	Name      string
	CreateSQL string
	NextValue string // next_not_cached_value
}

type viewMeta struct {
	Name      string
	CreateSQL string
	CSClient  string
	Collation string
	Columns   []string
}

// objDDL is a trigger, routine or event with the session settings it was
// created under.
type objDDL struct {
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

// listDatabases returns every database of the server, sorted.
func listDatabases(ctx context.Context, q querier) ([]string, error) {
	rows, err := queryRows(ctx, q, "SHOW DATABASES")
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

func isFloatType(dt string) bool { return dt == "float" }

func col(r map[string]sql.NullString, name string) string { return r[name].String }

// readDatabase reads the metadata of one database on conn (inside the
// snapshot). excluded reports excluded tables/views.
func readDatabase(ctx context.Context, conn *sql.Conn, name string, excluded func(db, table string) bool) (*dbMeta, error) {
	d, r, err := readTables(ctx, conn, name, excluded)
	if err != nil {
		return nil, err
	}
	// Objects whose text must come back byte for byte: read with
	// character_set_results=binary, replayed under their own
	// character_set_client (like mysqldump).
	if _, err := conn.ExecContext(ctx, "SET SESSION character_set_results = binary"); err != nil {
		return nil, r.wrap("SET character_set_results", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION character_set_results = utf8mb4") //nolint:errcheck
	for _, step := range []func(*dbMeta) error{r.viewDDL, r.routines, r.triggers, r.events} {
		if err := step(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// readTables reads a database and its tables with their columns (not its
// views, routines, triggers and events: those need more privileges).
func readTables(ctx context.Context, conn *sql.Conn, name string, excluded func(db, table string) bool) (*dbMeta, *metaReader, error) {
	r := &metaReader{ctx: ctx, conn: conn, name: name, qdb: quoteString(name), excluded: excluded}
	d := &dbMeta{Name: name}
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
	return fmt.Errorf("database %s: %s: %w", QuoteIdent(r.name), what, err)
}

// one runs a SHOW CREATE … that must return exactly one row.
func (r *metaReader) one(what, query string) (map[string]sql.NullString, error) {
	rows, err := queryRows(r.ctx, r.conn, query)
	if err != nil {
		return nil, r.wrap(what, err)
	}
	if len(rows) != 1 {
		return nil, r.wrap(what, fmt.Errorf("no row"))
	}
	return rows[0], nil
}

func (r *metaReader) database(d *dbMeta) error {
	row, err := r.one("SHOW CREATE DATABASE", "SHOW CREATE DATABASE "+QuoteIdent(r.name))
	if err != nil {
		return err
	}
	d.CreateSQL = col(row, "Create Database")
	if sr, err := queryRows(r.ctx, r.conn, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "+r.qdb); err == nil && len(sr) == 1 {
		d.Collation = col(sr[0], "DEFAULT_COLLATION_NAME")
	}
	return nil
}

// columnInfo is every table's dumped columns, every view's column names
// and every table's primary key.
type columnInfo struct {
	table map[string][]colMeta
	view  map[string][]string
	pk    map[string][]string
}

func (r *metaReader) columns() (*columnInfo, error) {
	colRows, err := queryRows(r.ctx, r.conn, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, COALESCE(GENERATION_EXPRESSION,'') AS GEN FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "+r.qdb+" ORDER BY TABLE_NAME, ORDINAL_POSITION")
	if err != nil {
		return nil, r.wrap("list columns", err)
	}
	ci := &columnInfo{table: map[string][]colMeta{}, view: map[string][]string{}, pk: map[string][]string{}}
	for _, row := range colRows {
		t, c := col(row, "TABLE_NAME"), col(row, "COLUMN_NAME")
		ci.view[t] = append(ci.view[t], c)
		if isGeneratedColumn(col(row, "EXTRA"), col(row, "GEN")) {
			continue // generated (or system-versioning) column: the server computes it
		}
		ci.table[t] = append(ci.table[t], colMeta{Name: c, DataType: strings.ToLower(col(row, "DATA_TYPE"))})
	}
	pkRows, err := queryRows(r.ctx, r.conn, "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "+r.qdb+" AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX")
	if err != nil {
		return nil, r.wrap("list primary keys", err)
	}
	for _, row := range pkRows {
		ci.pk[col(row, "TABLE_NAME")] = append(ci.pk[col(row, "TABLE_NAME")], col(row, "COLUMN_NAME"))
	}
	return ci, nil
}

// tables reads the tables, sequences and views (their DDL comes later).
func (r *metaReader) tables(d *dbMeta, cols *columnInfo) error {
	tables, err := queryRows(r.ctx, r.conn, "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE,'') AS ENGINE, COALESCE(AVG_ROW_LENGTH,0) AS AVG_ROW_LENGTH, COALESCE(TABLE_ROWS,0) AS TABLE_ROWS, COALESCE(DATA_LENGTH,0) AS DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+r.qdb)
	if err != nil {
		return r.wrap("list tables", err)
	}
	slices.SortFunc(tables, func(a, b map[string]sql.NullString) int {
		return strings.Compare(col(a, "TABLE_NAME"), col(b, "TABLE_NAME"))
	})
	// Views are read relative to their own database so that references to
	// its tables come out unqualified (this is what lets a restore rename
	// the database).
	if _, err := r.conn.ExecContext(r.ctx, "USE "+QuoteIdent(r.name)); err != nil {
		return r.wrap("USE", err)
	}
	for _, row := range tables {
		tn := col(row, "TABLE_NAME")
		if r.excluded(r.name, tn) {
			continue
		}
		switch col(row, "TABLE_TYPE") {
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
			d.Views = append(d.Views, &viewMeta{Name: tn, Columns: cols.view[tn]})
		}
	}
	return nil
}

func (r *metaReader) table(row map[string]sql.NullString, cols *columnInfo) (*tableMeta, error) {
	tn := col(row, "TABLE_NAME")
	t := &tableMeta{DB: r.name, Name: tn, Engine: col(row, "ENGINE")}
	t.AvgRowLen, _ = strconv.ParseInt(col(row, "AVG_ROW_LENGTH"), 10, 64)
	t.EstRows, _ = strconv.ParseInt(col(row, "TABLE_ROWS"), 10, 64)
	t.EstBytes, _ = strconv.ParseInt(col(row, "DATA_LENGTH"), 10, 64)
	cr, err := r.one("SHOW CREATE TABLE "+QuoteIdent(tn), "SHOW CREATE TABLE "+QuoteIdent(r.name)+"."+QuoteIdent(tn))
	if err != nil {
		return nil, err
	}
	t.CreateSQL = col(cr, "Create Table")
	t.Columns = cols.table[tn]
	byName := map[string]colMeta{}
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

func (r *metaReader) sequence(tn string) (*seqMeta, error) {
	qt := QuoteIdent(r.name) + "." + QuoteIdent(tn)
	cr, err := queryRows(r.ctx, r.conn, "SHOW CREATE SEQUENCE "+qt)
	if err != nil {
		return nil, r.wrap("SHOW CREATE SEQUENCE "+QuoteIdent(tn), err)
	}
	s := &seqMeta{Name: tn, CreateSQL: col(cr[0], "Create Table")}
	vr, err := queryRows(r.ctx, r.conn, "SELECT next_not_cached_value FROM "+qt)
	if err != nil {
		return nil, r.wrap("read sequence "+QuoteIdent(tn), err)
	}
	if len(vr) == 1 {
		s.NextValue = col(vr[0], "next_not_cached_value")
	}
	return s, nil
}

func (r *metaReader) viewDDL(d *dbMeta) error {
	for _, v := range d.Views {
		cr, err := r.one("SHOW CREATE VIEW "+QuoteIdent(v.Name), "SHOW CREATE VIEW "+QuoteIdent(v.Name))
		if err != nil {
			return err
		}
		v.CreateSQL = col(cr, "Create View")
		v.CSClient = col(cr, "character_set_client")
		v.Collation = col(cr, "collation_connection")
	}
	return nil
}

func (r *metaReader) routines(d *dbMeta) error {
	rr, err := queryRows(r.ctx, r.conn, "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = "+r.qdb+" AND ROUTINE_TYPE IN ('PROCEDURE','FUNCTION')")
	if err != nil {
		return r.wrap("list routines", err)
	}
	slices.SortFunc(rr, func(a, b map[string]sql.NullString) int {
		if c := strings.Compare(col(a, "ROUTINE_TYPE"), col(b, "ROUTINE_TYPE")); c != 0 {
			return c // FUNCTION before PROCEDURE
		}
		return strings.Compare(col(a, "ROUTINE_NAME"), col(b, "ROUTINE_NAME"))
	})
	for _, row := range rr {
		kind, rn := col(row, "ROUTINE_TYPE"), col(row, "ROUTINE_NAME")
		o, err := showCreate(r.ctx, r.conn, kind, r.name, rn)
		if err != nil {
			return r.wrap("SHOW CREATE "+kind+" "+QuoteIdent(rn), err)
		}
		d.Routines = append(d.Routines, o)
	}
	return nil
}

// triggers reads the triggers in firing order per table/timing/event.
func (r *metaReader) triggers(d *dbMeta) error {
	tr, err := queryRows(r.ctx, r.conn, "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = "+r.qdb+" ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER")
	if err != nil {
		return r.wrap("list triggers", err)
	}
	for _, row := range tr {
		if r.excluded(r.name, col(row, "EVENT_OBJECT_TABLE")) {
			continue
		}
		o, err := showCreate(r.ctx, r.conn, "TRIGGER", r.name, col(row, "TRIGGER_NAME"))
		if err != nil {
			return r.wrap("SHOW CREATE TRIGGER "+QuoteIdent(col(row, "TRIGGER_NAME")), err)
		}
		o.Table = col(row, "EVENT_OBJECT_TABLE")
		d.Triggers = append(d.Triggers, o)
	}
	return nil
}

func (r *metaReader) events(d *dbMeta) error {
	er, err := queryRows(r.ctx, r.conn, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = "+r.qdb+" ORDER BY EVENT_NAME")
	if err != nil {
		return r.wrap("list events", err)
	}
	for _, row := range er {
		o, err := showCreate(r.ctx, r.conn, "EVENT", r.name, col(row, "EVENT_NAME"))
		if err != nil {
			return r.wrap("SHOW CREATE EVENT "+QuoteIdent(col(row, "EVENT_NAME")), err)
		}
		d.Events = append(d.Events, o)
	}
	return nil
}

// showCreate runs SHOW CREATE {TRIGGER|PROCEDURE|FUNCTION|EVENT}.
func showCreate(ctx context.Context, conn *sql.Conn, kind, db, name string) (*objDDL, error) {
	rows, err := queryRows(ctx, conn, "SHOW CREATE "+kind+" "+QuoteIdent(db)+"."+QuoteIdent(name))
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("no row (missing privilege?)")
	}
	r := rows[0]
	o := &objDDL{Kind: kind, Name: name, SQLMode: col(r, "sql_mode"), CSClient: col(r, "character_set_client"),
		Collation: col(r, "collation_connection"), DBCollation: col(r, "Database Collation"), TimeZone: col(r, "time_zone")}
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

// isGeneratedColumn reads information_schema.COLUMNS.EXTRA and
// GENERATION_EXPRESSION: MariaDB says VIRTUAL GENERATED / STORED GENERATED
// (PERSISTENT in old versions) and ROW START / ROW END for system
// versioning; Config 8 says VIRTUAL GENERATED / STORED GENERATED, and
// DEFAULT_GENERATED for an expression default, which is an ordinary column.
func isGeneratedColumn(extra, genExpr string) bool {
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
