package restore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// The rows of an ops dump are loaded with LOAD DATA LOCAL INFILE: the server
// reads tab-separated fields for much less than it spends parsing the same
// rows as INSERT … VALUES text (bench/restore-profile.sh: the SQL parser was
// a quarter of the server's samples, LOAD DATA's field reader is a sixth).
// The stream stays plain INSERTs, so
// the stock client restores it as before; the restore turns each INSERT
// that has exactly the dumper's form into the LOAD DATA of the same rows,
// for the same table and columns, in the same session. Whatever does not fit
// that form (another tool's INSERT, a value of an unexpected kind, a
// session whose character set or SQL mode the conversion cannot honour)
// runs as written.
//
// LOAD DATA LOCAL skips a row a duplicate key or a missing partition would
// make an INSERT fail on; the restore compares the rows the server reports
// with the rows it sent and fails as the INSERT would have.

// loadDisabledErrors are the server's answers when LOAD DATA LOCAL is off
// (local_infile=0): the restore goes on with INSERTs.
var loadDisabledErrors = map[uint16]bool{
	1148: true, // ER_NOT_ALLOWED_COMMAND (MySQL 5.7, older MariaDB)
	3948: true, // ER_CLIENT_LOCAL_FILES_DISABLED (MySQL 8)
	4166: true, // ER_LOAD_INFILE_CAPABILITY_DISABLED (MariaDB 10.5+)
}

// loader turns INSERTs into LOAD DATA for one restore.
type loader struct {
	off    atomic.Bool  // the server refused LOAD DATA LOCAL: INSERTs from now on
	loaded atomic.Int64 // INSERTs run as LOAD DATA
	asIs   atomic.Int64 // of them, loaded without conversion (CHARACTER SET binary)
	mu     sync.Mutex
	kinds  map[string]columns // target database + INSERT head → its columns
}

// columns is what the loader knows of an INSERT's columns in the target table.
type columns struct {
	kinds []sqltext.ValueKind
	// charsets are what columnCharset says of each column, to know when
	// the rows' bytes can go in as they are (see loadCharset).
	charsets []string
}

func newLoader() *loader { return &loader{kinds: map[string]columns{}} }

// readerSeq numbers the driver's reader handlers, whose registry is global:
// restores running side by side in one process (ops serve) must never
// share a name.
var readerSeq atomic.Int64

// invalidate forgets the column kinds: the main connection ran a statement
// that may have created, dropped or altered a table.
func (l *loader) invalidate() {
	l.mu.Lock()
	clear(l.kinds)
	l.mu.Unlock()
}

// loadSession is what a connection's session allows, checked after the
// session statements it replayed last.
type loadSession struct {
	checked bool
	charset string // character_set_client, when the conversion can honour it
}

// loadCharsets are the client character sets whose every multi-byte
// sequence is free of ASCII bytes, so that escaping bytes is safe.
var loadCharsets = map[string]bool{"utf8mb4": true, "utf8mb3": true, "utf8": true, "latin1": true, "ascii": true, "binary": true}

// check reads the session's character set and SQL mode once.
func (s *loadSession) check(ctx context.Context, c *sql.Conn) error {
	if s.checked {
		return nil
	}
	var cs, mode string
	if err := c.QueryRowContext(ctx, "SELECT @@character_set_client, @@sql_mode").Scan(&cs, &mode); err != nil {
		return fmt.Errorf("read the session's character set: %w", err)
	}
	s.checked, s.charset = true, sessionLoadCharset(cs, mode)
	return nil
}

// sessionLoadCharset is the character set LOAD DATA may read a session's
// rows in, or "" when their INSERTs must run as written: a client set with
// a multi-byte character holding an ASCII byte (gbk, sjis, big5, cp932,
// gb18030: the rows are read byte by byte, and a trail byte 0x5C would be
// taken for a backslash escape), a strict mode (an INSERT fails on a value
// LOAD DATA LOCAL only warns about), or NO_BACKSLASH_ESCAPES (it changes
// what the string literals mean).
func sessionLoadCharset(cs, mode string) string {
	if loadCharsets[cs] && !strings.Contains(mode, "STRICT_") && !strings.Contains(mode, "NO_BACKSLASH_ESCAPES") {
		return cs
	}
	return ""
}

// insertForm is an INSERT of the dumper's form, split.
type insertForm struct {
	head  string   // "INSERT INTO `t` (`a`,`b`) VALUES " (the cache key)
	table string   // unquoted
	cols  []string // unquoted
	rows  string   // "(…),(…)"
}

// parseInsertForm splits "INSERT INTO `t` (`a`,…) VALUES (…),…"; ok is
// false for any other form.
func parseInsertForm(s string, l sqltext.LexState) (f insertForm, ok bool) {
	const pre = "INSERT INTO "
	if !strings.HasPrefix(s, pre) || len(s) <= len(pre) || s[len(pre)] != '`' {
		return f, false
	}
	p := len(pre)
	name, n, ok := sqltext.LexIdent(s[p:], l)
	if !ok {
		return f, false
	}
	f.table = name
	p += n
	if !strings.HasPrefix(s[p:], " (") {
		return f, false
	}
	p += 2
	for {
		if p >= len(s) || s[p] != '`' {
			return f, false
		}
		name, n, ok := sqltext.LexIdent(s[p:], l)
		if !ok {
			return f, false
		}
		f.cols = append(f.cols, name)
		p += n
		if p < len(s) && s[p] == ',' {
			p++
			continue
		}
		break
	}
	const vals = ") VALUES "
	if !strings.HasPrefix(s[p:], vals) {
		return f, false
	}
	p += len(vals)
	f.head, f.rows = s[:p], s[p:]
	return f, len(f.rows) > 0
}

// appendTSV appends the rows of an INSERT as LOAD DATA's default text
// format (fields by tab, lines by newline, backslash escapes, \N for NULL)
// and returns the number of rows. ok is false when a row does not have
// exactly one value per column of the kind the column takes: numbers bare,
// strings quoted with the dumper's escapes, binary as 0x hex (or ”).
func appendTSV(dst []byte, rows string, kinds []sqltext.ValueKind) (out []byte, n int, ok bool) {
	p := 0
	for {
		if p >= len(rows) || rows[p] != '(' {
			return dst, n, false
		}
		p++
		for i, k := range kinds {
			if i > 0 {
				if p >= len(rows) || rows[p] != ',' {
					return dst, n, false
				}
				p++
				dst = append(dst, '\t')
			}
			var good bool
			dst, p, good = appendField(dst, rows, p, k)
			if !good {
				return dst, n, false
			}
		}
		if p >= len(rows) || rows[p] != ')' {
			return dst, n, false
		}
		p++
		dst = append(dst, '\n')
		n++
		if p == len(rows) {
			return dst, n, true
		}
		if rows[p] != ',' {
			return dst, n, false
		}
		p++
	}
}

// appendField converts the value at rows[p:] and returns the position after it.
func appendField(dst []byte, rows string, p int, k sqltext.ValueKind) ([]byte, int, bool) {
	if p >= len(rows) {
		return dst, p, false
	}
	switch c := rows[p]; {
	case c == 'N':
		if !strings.HasPrefix(rows[p:], "NULL") {
			return dst, p, false
		}
		return append(dst, '\\', 'N'), p + 4, true
	case c == '\'':
		if k == sqltext.KindNumber || k == kindYear || (k == sqltext.KindBinary && !strings.HasPrefix(rows[p:], "''")) {
			return dst, p, false
		}
		return appendQuotedField(dst, rows, p+1)
	case c == '0' && p+1 < len(rows) && rows[p+1] == 'x':
		if k != sqltext.KindBinary {
			return dst, p, false
		}
		q := p + 2
		for q < len(rows) && isHexDigit(rows[q]) {
			q++
		}
		if q == p+2 || (q-p)%2 != 0 {
			return dst, p, false
		}
		return append(dst, rows[p+2:q]...), q, true
	case c == '-' || c >= '0' && c <= '9':
		if k != sqltext.KindNumber && k != kindYear {
			return dst, p, false
		}
		q := numberEnd(rows, p)
		if q < 0 {
			return dst, p, false
		}
		if k == kindYear && q == p+1 && c == '0' {
			// The number 0 is the year 0000; the text "0" (all LOAD DATA
			// reads) would be 2000.
			return append(dst, "0000"...), q, true
		}
		return append(dst, rows[p:q]...), q, true
	}
	return dst, p, false
}

// tsvEscape maps the SQL escapes the dumper writes to LOAD DATA's.
var tsvEscape = [256]byte{'0': '0', 'n': 'n', 'r': 'r', '\\': '\\', 'Z': 'Z', '\'': '\'', '"': '"'}

// appendQuotedField converts the string literal whose body starts at
// rows[p] and returns the position after its closing quote. Between the
// bytes that need work (quote, backslash, tab, newline) it copies whole
// runs, found with strings.IndexByte.
func appendQuotedField(dst []byte, rows string, p int) ([]byte, int, bool) {
	for p < len(rows) {
		n := tsvSpecial(rows[p:])
		if n < 0 {
			return dst, len(rows), false
		}
		dst = append(dst, rows[p:p+n]...)
		p += n
		switch c := rows[p]; c {
		case '\'':
			if p+1 < len(rows) && rows[p+1] == '\'' {
				dst = append(dst, '\'')
				p += 2
				continue
			}
			return dst, p + 1, true
		case '\\':
			if p+1 >= len(rows) {
				return dst, p, false
			}
			e := tsvEscape[rows[p+1]]
			if e == 0 {
				return dst, p, false // an escape the dumper does not write
			}
			if e == '\'' || e == '"' {
				dst = append(dst, e)
			} else {
				dst = append(dst, '\\', e)
			}
			p += 2
		default: // tab, newline
			if c == '\t' {
				dst = append(dst, '\\', 't')
			} else {
				dst = append(dst, '\\', 'n')
			}
			p++
		}
	}
	return dst, p, false
}

// tsvSpecial is the index of the first quote, backslash, tab or newline
// in s, or -1.
func tsvSpecial(s string) int {
	n := strings.IndexByte(s, '\'')
	end := n
	if end < 0 {
		end = len(s)
	}
	for _, c := range [...]byte{'\\', '\t', '\n'} {
		if i := strings.IndexByte(s[:end], c); i >= 0 {
			end, n = i, i
		}
	}
	return n
}

// numberEnd returns the end of the number at s[p:] as the dumper writes
// them (-?digits[.digits][e[+-]digits]), or -1.
func numberEnd(s string, p int) int {
	digits := func() bool {
		q := p
		for p < len(s) && s[p] >= '0' && s[p] <= '9' {
			p++
		}
		return p > q
	}
	if p < len(s) && s[p] == '-' {
		p++
	}
	if !digits() {
		return -1
	}
	if p < len(s) && s[p] == '.' {
		p++
		if !digits() {
			return -1
		}
	}
	if p < len(s) && (s[p] == 'e' || s[p] == 'E') {
		p++
		if p < len(s) && (s[p] == '+' || s[p] == '-') {
			p++
		}
		if !digits() {
			return -1
		}
	}
	return p
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

// loadStatement is the LOAD DATA of f's table and columns, reading the
// rows in charset; binary columns arrive as hex and are decoded by UNHEX,
// as the hex literals were.
func loadStatement(name string, f insertForm, kinds []sqltext.ValueKind, charset string) string {
	var b, set strings.Builder
	b.WriteString("LOAD DATA LOCAL INFILE 'Reader::" + name + "' INTO TABLE " + sqltext.QuoteIdent(f.table) +
		" CHARACTER SET " + charset +
		` FIELDS TERMINATED BY '\t' ENCLOSED BY '' ESCAPED BY '\\' LINES TERMINATED BY '\n' STARTING BY '' (`)
	for i, c := range f.cols {
		if i > 0 {
			b.WriteByte(',')
		}
		if kinds[i] != sqltext.KindBinary {
			b.WriteString(sqltext.QuoteIdent(c))
			continue
		}
		v := "@ops_" + strconv.Itoa(i)
		b.WriteString(v)
		if set.Len() > 0 {
			set.WriteByte(',')
		}
		set.WriteString(sqltext.QuoteIdent(c) + " = UNHEX(" + v + ")")
	}
	b.WriteByte(')')
	if set.Len() > 0 {
		b.WriteString(" SET " + set.String())
	}
	return b.String()
}

// columns returns the kinds of f's columns in the target table, read from
// the table itself (a LIMIT 0 query, as the dumper reads them), and their
// character sets (information_schema).
func (l *loader) columns(ctx context.Context, c *sql.Conn, target string, f insertForm) (columns, error) {
	key := target + "\x00" + f.head
	l.mu.Lock()
	cols, ok := l.kinds[key]
	l.mu.Unlock()
	if ok {
		return cols, nil
	}
	quoted := make([]string, len(f.cols))
	for i, c := range f.cols {
		quoted[i] = sqltext.QuoteIdent(c)
	}
	rows, err := c.QueryContext(ctx, "SELECT "+strings.Join(quoted, ",")+" FROM "+sqltext.QuoteIdent(f.table)+" LIMIT 0")
	if err != nil {
		return cols, err
	}
	types, err := rows.ColumnTypes()
	rows.Close()
	if err != nil {
		return cols, err
	}
	cols.kinds = make([]sqltext.ValueKind, len(types))
	for i, t := range types {
		if cols.kinds[i] = sqltext.KindOf(t.DatabaseTypeName()); t.DatabaseTypeName() == "YEAR" {
			cols.kinds[i] = kindYear
		}
	}
	if cols.charsets, err = columnCharsets(ctx, c, target, f); err != nil {
		return cols, err
	}
	l.mu.Lock()
	l.kinds[key] = cols
	l.mu.Unlock()
	return cols, nil
}

// columnCharsets returns, for each of f's columns in the target table, the
// character set of a CHAR, VARCHAR or TEXT column, "" for a number, a date
// or time, or a binary string, and typeConverted for any other type.
func columnCharsets(ctx context.Context, c *sql.Conn, target string, f insertForm) ([]string, error) {
	rows, err := c.QueryContext(ctx, "SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, '') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", target, f.table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byName := map[string]string{}
	for rows.Next() {
		var name, typ, cs string
		if err := rows.Scan(&name, &typ, &cs); err != nil {
			return nil, err
		}
		byName[strings.ToLower(name)] = columnCharset(typ, cs)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]string, len(f.cols))
	for i, c := range f.cols {
		cs, ok := byName[strings.ToLower(c)]
		if !ok {
			return nil, fmt.Errorf("column %s not in information_schema", sqltext.QuoteIdent(c))
		}
		out[i] = cs
	}
	return out, nil
}

// columnCharset is what columnCharsets says of a column of information_schema's
// DATA_TYPE typ and CHARACTER_SET_NAME cs.
func columnCharset(typ, cs string) string {
	switch strings.ToLower(typ) {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return cs
	case "tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double",
		"date", "datetime", "timestamp", "time", "year",
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return ""
	}
	return typeConverted
}

// typeConverted marks a column whose values the server must always read
// in the rows' character set: ENUM and SET (a four-byte character is not
// found among the members when read as bytes), INET6 and UUID (a 16-byte
// binary string is taken as the value itself), and any type not named in
// columnCharsets.
const typeConverted = "(converted)"

// loadCharset is the character set LOAD DATA reads the rows in. The rows
// are in the session's character set; when every character column of the
// table stores that same set, the server need not convert them, and
// "binary" has it store the bytes as they are (still checked as the
// column's characters), for less server CPU (bench/ab.sh). Safe only where
// no multi-byte character holds an ASCII byte: loadCharsets.
func loadCharset(session string, cols columns) string {
	for _, cs := range cols.charsets {
		if cs != "" && cs != session {
			return session
		}
	}
	return "binary"
}

// kindYear is a YEAR column (a number to the dumper; to LOAD DATA, whose
// fields are text, the number 0 has to be written 0000).
const kindYear sqltext.ValueKind = 100

// errNotLoaded: the INSERT is to run as written.
var errNotLoaded = errors.New("not loaded")

// load runs the INSERT split as f (nil: not of the dumper's form) as LOAD
// DATA on c, with buf as scratch space. It returns errNotLoaded (and buf)
// when the INSERT is to run as written instead.
func (l *loader) load(ctx context.Context, c *sql.Conn, s *loadSession, target string, f *insertForm, buf []byte) ([]byte, error) {
	if l.off.Load() || f == nil {
		return buf, errNotLoaded
	}
	if err := s.check(ctx, c); err != nil {
		return buf, err
	}
	if s.charset == "" {
		return buf, errNotLoaded
	}
	cols, err := l.columns(ctx, c, target, *f)
	if err != nil || len(cols.kinds) != len(f.cols) {
		return buf, errNotLoaded // the INSERT reports what is wrong with the table
	}
	buf, n, ok := appendTSV(buf[:0], f.rows, cols.kinds)
	if !ok {
		return buf, errNotLoaded
	}
	name := "ops-restore-" + strconv.FormatInt(readerSeq.Add(1), 10)
	data := buf
	gomysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(data) })
	defer gomysql.DeregisterReaderHandler(name)
	charset := loadCharset(s.charset, cols)
	res, err := execResultRetryingDeadlocks(ctx, c, loadStatement(name, *f, cols.kinds, charset))
	if err != nil {
		var me *gomysql.MySQLError
		if errors.As(err, &me) && loadDisabledErrors[me.Number] {
			l.off.Store(true)
			return buf, errNotLoaded
		}
		return buf, err
	}
	if got, err := res.RowsAffected(); err == nil && got != int64(n) {
		return buf, fmt.Errorf("%d of its %d rows were not inserted (a duplicate key or a value without a partition: the INSERT would have failed)", int64(n)-got, n)
	}
	if charset == "binary" {
		l.asIs.Add(1)
	}
	return buf, nil
}
