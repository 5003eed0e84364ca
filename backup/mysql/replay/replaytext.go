package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"slices"
	"strconv"
	"strings"
)

// A point-in-time restore pipes mariadb-binlog's text into the stock
// client (mariadb --binary-mode), exactly as `mariadb-binlog … | mariadb
// --binary-mode` does. The client splits that text into statements with
// its own reader, which follows the session state the way the server
// reports it: a string literal hides the delimiter, a backslash escapes
// unless the server says NO_BACKSLASH_ESCAPES, "…" is an identifier under
// ANSI_QUOTES, and a multibyte character of the client's character set
// (set by the `/*!\C cs */` lines mariadb-binlog prints) is never split,
// so its trail byte can be a quote or a backslash. clientReader models
// that reader (client/mysql.cc, read_and_execute and add_line, in binary
// mode, comments not preserved), and:
//
//   - replayText accepts a logged statement only when the client, reading
//     it as mariadb-binlog prints it under the event's session state, sends
//     it as one statement that the server reads as the logged one (same
//     tokens): a literal holding `/*!*/;`, a line starting with DELIMITER or
//     a GTID-looking line, a statement logged under NO_BACKSLASH_ESCAPES or
//     ANSI_QUOTES or in gbk replay exactly; text the client would cut, join
//     or run as a client command is refused before the target is touched.
//   - binlogText follows the whole output while it is piped, so that
//     mariadb-binlog's GTID lines are left out only where the client is at
//     the start of a statement (a GTID-looking line inside a literal is
//     data).

// sql_mode bits that change how the server (and so the client) reads SQL.
const (
	sqlModeANSIQuotes  = 1 << 2
	sqlModeNoBackslash = 1 << 20
)

// collationCharsets are the collation ids (the character_set_client of a
// query event) of the multibyte character sets whose trail byte can be an
// ASCII byte; every other id reads like a single-byte set as far as
// quotes, backslashes and the delimiter go. (MariaDB 10.11:
// information_schema.COLLATIONS; gb18030, from 11.x, by MySQL's numbers.)
var collationCharsets = map[uint16]string{
	1: "big5", 84: "big5", 1025: "big5", 1108: "big5",
	95: "cp932", 96: "cp932", 1119: "cp932", 1120: "cp932",
	28: "gbk", 87: "gbk", 1052: "gbk", 1111: "gbk",
	13: "sjis", 88: "sjis", 1037: "sjis", 1112: "sjis",
	248: "gb18030", 249: "gb18030", 250: "gb18030",
}

// sqlModeState applies a sql_mode to a lexing state.
func sqlModeState(l sqltext.LexState, mode uint64) sqltext.LexState {
	l.NoBackslash = mode&sqlModeNoBackslash != 0
	l.AnsiQuotes = mode&sqlModeANSIQuotes != 0
	return l
}

// charsetState applies a client collation id to a lexing state.
func charsetState(l sqltext.LexState, id uint16) sqltext.LexState {
	l.Charset = sqltext.Charsets[collationCharsets[id]]
	return l
}

// queryStatus is what the replay reads from a query event's status
// variables.
type queryStatus struct {
	tz        string
	sqlMode   uint64
	hasMode   bool
	clientCS  uint16
	hasClient bool
}

// eventLexState is the session state a query event was logged under, as
// far as its status variables say (prev for what they leave out).
func eventLexState(st queryStatus, prev sqltext.LexState) sqltext.LexState {
	l := prev
	if st.hasMode {
		l = sqlModeState(l, st.sqlMode)
	}
	if st.hasClient {
		l = charsetState(l, st.clientCS)
	}
	return l
}

// clientReader models how the stock client (mariadb --binary-mode
// --batch) reads its input: which statements it sends, which client
// commands it runs. Feed it lines without their line feed.
type clientReader struct {
	lex       sqltext.LexState // the server's status (NBE, ANSI_QUOTES) and the client's character set
	delim     string
	inString  byte
	mlComment bool
	buf       []byte // the statement being read (glob_buffer)
	db        []byte // delim's bytes

	keep bool     // keep the statements sent (replayText); else only follow sql_mode
	sent []string // statements sent
	// onSend and onCommand, when set, get every statement the client
	// would send and every client command it would run (\C cs), as it
	// reads them: the batched replay executes them itself.
	onSend    func(stmt []byte)
	onCommand func(cmd string)
	commands  []string // client commands run (DELIMITER x, \C cs)
	problems  []string // what the client would do wrong (quit, drop or change bytes)
}

// isSpace is the client's my_isspace in its character set.
func (r *clientReader) isSpace(c byte) bool {
	if c >= 0x80 {
		return sqltext.HighSpace[r.lex.Charset][c-0x80]
	}
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// delimB is the delimiter as bytes.
func (r *clientReader) delimB() []byte {
	if string(r.db) != r.delim {
		r.db = []byte(r.delim)
	}
	return r.db
}

// clientSpecial are the bytes that can change the reader's state or
// what it keeps (besides the delimiter's first byte).
var clientSpecial = func() (t [256]bool) {
	for _, c := range []byte("\\'\"`#-/*") {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// atStart reports whether the reader is at the start of a statement.
func (r *clientReader) atStart() bool {
	return len(r.buf) == 0 && r.inString == 0 && !r.mlComment
}

// line reads one line.
func (r *clientReader) line(l []byte) {
	if r.keep && r.atStart() && binlogMarker(l) {
		// The batched replay follows mariadb-binlog's "# at N" and "# End
		// of log file" lines between statements to know which source
		// event the text belongs to: a logged statement must not start
		// with one.
		r.problems = append(r.problems, "a line that reads as one of mariadb-binlog's own event markers (\"# at N\", \"# End of log file\") at the start of the statement")
	}
	if r.atStart() {
		// read_and_execute: a named command at the start of a statement;
		// in binary mode only DELIMITER (a prefix match on its name).
		s := l
		for len(s) > 0 && r.isSpace(s[0]) {
			s = s[1:]
		}
		if len(s) >= 9 && strings.EqualFold(string(s[:9]), "delimiter") {
			r.delimiter(s)
			return
		}
	}
	r.addLine(l)
}

// atLinePrefix and endOfLog are the comment lines mariadb-binlog prints
// before each event (its offset in the input) and after the last one.
var (
	atLinePrefix = []byte("# at ")
	endOfLog     = []byte("# End of log file")
)

// binlogMarker reports whether a line reads as one of mariadb-binlog's
// event markers (spaces before it are the client's, not the marker's).
func binlogMarker(l []byte) bool {
	l = bytes.TrimLeft(bytes.TrimRight(l, "\r"), " \t")
	return bytes.HasPrefix(l, atLinePrefix) || bytes.HasPrefix(l, endOfLog)
}

// atOffset reads mariadb-binlog's "# at N" line (exactly: no spaces
// around it, digits only).
func atOffset(l []byte) (int64, bool) {
	d, ok := bytes.CutPrefix(l, atLinePrefix)
	if !ok || len(d) == 0 || len(d) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// delimiter runs a DELIMITER command line.
func (r *clientReader) delimiter(s []byte) {
	arg := string(s)
	if i := strings.IndexAny(arg, " \t"); i >= 0 {
		arg = strings.TrimLeft(arg[i:], " \t")
	} else {
		arg = ""
	}
	if i := strings.IndexAny(arg, " \t"); i >= 0 {
		arg = arg[:i]
	}
	r.command("DELIMITER " + arg)
	if arg == "" || strings.Contains(arg, `\`) {
		r.problems = append(r.problems, "a DELIMITER command the client refuses")
		return
	}
	r.delim = arg
}

// addLine is the client's add_line: l is one line of input.
func (r *clientReader) addLine(l []byte) {
	if (len(l) == 0 || l[0] == 0) && len(r.buf) == 0 {
		return
	}
	// The line's bytes go straight to buf; those from o on are the ones
	// the client has not added to its buffer yet (add_line's out).
	o := len(r.buf)
	flush := func() { o = len(r.buf) }
	needSpace, ssComment := false, false
	at := func(i int) byte {
		if i < len(l) {
			return l[i]
		}
		return 0
	}
	i := 0
	for ; i < len(l); i++ {
		c := l[i]
		if !r.mlComment && !needSpace && !clientSpecial[c] && c != r.delim[0] && len(r.buf) > 0 {
			// a run of bytes that mean nothing to the reader in any state
			j := i + 1
			for j < len(l) && !clientSpecial[l[j]] && l[j] != r.delim[0] {
				j++
			}
			r.buf = append(r.buf, l[i:j]...)
			i = j - 1
			continue
		}
		if r.isSpace(c) && len(r.buf) == 0 {
			continue
		}
		if c >= 0x80 && r.lex.Charset != 0 {
			if n := sqltext.MbLen(r.lex.Charset, string(l[i:min(len(l), i+4)])); n > 1 && i+n <= len(l) {
				if !r.mlComment {
					r.buf = append(r.buf, l[i:i+n]...)
				}
				i += n - 1
				continue
			}
		}
		if !r.mlComment && c == '\\' && r.inString != '`' && !(r.inString == '"' && r.lex.AnsiQuotes) &&
			!(r.inString != 0 && r.lex.NoBackslash) {
			var stop bool
			if i, stop = r.backslash(l, i, ssComment, flush); stop {
				break
			}
			continue
		}
		if !r.mlComment && r.inString == 0 && bytes.HasPrefix(l[i:], r.delimB()) {
			i += len(r.delim) - 1
			r.send()
			o = 0
			continue
		}
		if !r.mlComment && r.inString == 0 && (c == '#' || c == '-' && at(i+1) == '-' &&
			(r.isSpace(at(i+2)) || at(i+2) == 0 || len(r.buf) == 0)) {
			flush()
			break // the rest of the line is a comment
		}
		if r.inString == 0 && c == '/' && at(i+1) == '*' && !(at(i+2) == '!' || at(i+2) == 'M' && at(i+3) == '!') {
			i++
			r.mlComment = true
			flush()
			continue
		}
		if r.mlComment && !ssComment && c == '*' && at(i+1) == '/' {
			i++
			r.mlComment = false
			flush()
			needSpace = true
			continue
		}
		if r.inString == 0 && c == '/' && at(i+1) == '*' && at(i+2) == '!' {
			ssComment = true
		} else if r.inString == 0 && ssComment && c == '*' && at(i+1) == '/' {
			ssComment = false
		}
		if c == r.inString {
			r.inString = 0
		} else if !r.mlComment && r.inString == 0 && (c == '\'' || c == '"' || c == '`') {
			r.inString = c
		}
		if !r.mlComment {
			if needSpace && !r.isSpace(c) {
				r.buf = append(r.buf, ' ')
			}
			needSpace = false
			r.buf = append(r.buf, c)
		}
	}
	r.endLine(o)
}

// endLine ends addLine: the line's newline is kept (except after a
// DELIMITER the client has not yet run), and a buffer of spaces is
// emptied. o is where the line's unflushed bytes start.
func (r *clientReader) endLine(o int) {
	if len(r.buf) > 0 && !r.mlComment {
		out := r.buf[o:]
		if len(out) < 9 || !strings.EqualFold(string(out[:9]), "delimiter") || r.inString != 0 {
			r.buf = append(r.buf, '\n')
		}
	}
	for _, c := range r.buf {
		if !r.isSpace(c) {
			return
		}
	}
	r.buf = r.buf[:0]
}

// backslash is addLine's escape or client command at l[i] (a backslash):
// it returns the index of the last byte it used, and stop when the rest of
// the line is lost.
func (r *clientReader) backslash(l []byte, i int, ssComment bool, flush func()) (int, bool) {
	at := func(i int) byte {
		if i < len(l) {
			return l[i]
		}
		return 0
	}
	i++
	c := at(i)
	if c == 0 {
		r.problems = append(r.problems, "a backslash at the end of a line or before a NUL byte (the client drops what follows it)")
		return i, true
	}
	if r.inString != 0 || c == 'N' {
		r.buf = append(r.buf, '\\', c)
		return i, false
	}
	if c != 'C' {
		r.problems = append(r.problems, fmt.Sprintf("client command \\%c (the client stops: unknown command)", c))
		r.buf = append(r.buf, '\\', c)
		return i, false
	}
	flush()
	r.charset(l[i+1:])
	if ssComment { // the rest of the comment is the command's
		for i++; i < len(l) && l[i] != 0 && !(l[i] == '*' && at(i+1) == '/'); i++ {
		}
		return i - 1, false
	}
	// up to the delimiter
	for i++; i < len(l) && l[i] != 0 && !bytes.HasPrefix(l[i:], r.delimB()); i++ {
	}
	if i < len(l) && l[i] != 0 {
		return i + len(r.delim) - 1, false
	}
	return i - 1, false
}

// command records a client command (only for replayText: the tracker
// sees mariadb-binlog's own, which are many).
func (r *clientReader) command(c string) {
	if r.keep {
		r.commands = append(r.commands, c)
	}
}

// charset runs \C: the client's character set changes (and the
// connection's, as SET NAMES would).
func (r *clientReader) charset(rest []byte) {
	arg := strings.TrimLeft(string(rest), " \t")
	if i := strings.IndexAny(arg, " \t\x00*"); i >= 0 {
		arg = arg[:i]
	}
	r.command(`\C ` + arg)
	if r.onCommand != nil {
		r.onCommand(`\C ` + arg)
	}
	r.lex.Charset = sqltext.Charsets[strings.ToLower(arg)]
}

// send is the client's com_go: trailing control characters and spaces
// are cut, an empty statement is not sent.
func (r *clientReader) send() {
	s := r.buf
	for len(s) > 0 && (s[len(s)-1] <= ' ' || s[len(s)-1] == 0x7f || r.isSpace(s[len(s)-1])) {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0x80 && r.lex.Charset != sqltext.Charsets["utf8mb4"] {
		// which bytes from 0x80 the client counts as printable
		// (my_isgraph) in a set other than the utf8 ones is not
		// modelled: it may cut them
		r.problems = append(r.problems, "a statement ending in a byte from 0x80 in a multibyte character set (the client may cut it)")
	}
	if len(s) > 0 {
		if r.keep {
			r.sent = append(r.sent, string(s))
		}
		if r.onSend != nil {
			r.onSend(s)
		}
		// mariadb-binlog's SET @@session.sql_mode=N: the server reports
		// the new mode with its answer, so it applies from the next
		// statement on.
		if m, ok := bytes.CutPrefix(s, []byte("SET @@session.sql_mode=")); ok && len(m) < 24 {
			if v, err := strconv.ParseUint(string(m), 10, 64); err == nil {
				r.lex = sqlModeState(r.lex, v)
			}
		}
	}
	r.buf = r.buf[:0]
}

// replayText checks a logged statement q before it is replayed: printed
// by mariadb-binlog (q, a line feed, the delimiter on its own line) and
// read by the client under the session state l it was logged under, it
// must reach the server as one statement that reads as q does.
func replayText(q string, l sqltext.LexState) error {
	r := &clientReader{lex: l, delim: replayDelimiter, keep: true}
	for _, line := range strings.Split(q+"\n"+replayDelimiter, "\n") {
		r.line([]byte(line))
	}
	switch {
	case len(r.commands) > 0:
		return fmt.Errorf("the mysql client would run %q in the statement as a client command: refusing it: %s", r.commands[0], sqltext.Excerpt(q))
	case len(r.problems) > 0:
		return fmt.Errorf("the mysql client cannot pass the statement on unchanged (%s): refusing it: %s", r.problems[0], sqltext.Excerpt(q))
	case len(r.sent) != 1 || !r.atStart():
		return fmt.Errorf("the mysql client would not read the statement as one statement (mysqlbinlog's delimiter %q ends it early or not at all): refusing it: %s", replayDelimiter, sqltext.Excerpt(q))
	}
	if r.sent[0] == strings.TrimSpace(q) {
		return nil
	}
	want, err := sqltext.TokenizeIn(q, l)
	if err != nil {
		return fmt.Errorf("the statement cannot be read (%v): %s", err, sqltext.Excerpt(q))
	}
	got, err := sqltext.TokenizeIn(r.sent[0], l)
	if err != nil || !slices.Equal(got, want) {
		return fmt.Errorf("the mysql client would send the statement altered: refusing it: %s", sqltext.Excerpt(q))
	}
	return nil
}

// printedNameSafe checks a line mariadb-binlog prints with a name in it
// (use `db`, SET @`var`:=…) under every character set the client may
// be in when it reads it: one statement, no client command.
func printedNameSafe(line string) error {
	if !strings.ContainsFunc(line, func(c rune) bool { return c >= 0x80 }) && !strings.ContainsAny(line, "\\\x00\n") {
		return nil // ASCII: read alike in every set
	}
	kinds := map[sqltext.CharsetKind]bool{0: true}
	for _, k := range sqltext.Charsets {
		kinds[k] = true
	}
	for k := range kinds {
		for _, nbe := range []bool{false, true} {
			r := &clientReader{lex: sqltext.LexState{Charset: k, NoBackslash: nbe}, delim: replayDelimiter, keep: true}
			r.line([]byte(line))
			if len(r.sent) != 1 || !r.atStart() || len(r.commands) > 0 || len(r.problems) > 0 {
				return fmt.Errorf("mariadb-binlog would print %q in a way the mysql client can misread", line)
			}
		}
	}
	return nil
}

// binlogText follows mariadb-binlog's output as the client reads it (its
// state carries over from one file's output to the next: one client reads
// them all).
type binlogText struct {
	r clientReader
}

func newBinlogText() *binlogText {
	return &binlogText{r: clientReader{delim: ";"}}
}

// copyWithoutGTIDs copies mysqlbinlog's output, leaving out its GTID
// lines where the client is at the start of a statement (not inside a
// literal or a comment).
func (t *binlogText) copyWithoutGTIDs(w io.Writer, rd io.Reader) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	err := eachLine(rd, func(line []byte) error {
		body := bytes.TrimSuffix(line, []byte("\n"))
		drop := t.r.atStart() && len(body) < 80 && gtidLine.Match(bytes.TrimSuffix(body, []byte("\r")))
		if drop {
			return nil
		}
		t.r.line(body)
		_, werr := bw.Write(line)
		return werr
	})
	switch {
	case err != nil:
		_, _ = io.Copy(io.Discard, rd) // let mysqlbinlog finish: it must not block on a full pipe
		return err
	case len(t.r.problems) > 0:
		return fmt.Errorf("the mysql client would misread mysqlbinlog's output: %s", t.r.problems[0])
	case !t.r.atStart():
		return fmt.Errorf("mysqlbinlog's output ends inside a statement as the mysql client reads it")
	}
	return bw.Flush()
}

// eachLine calls fn with every line of r (its line feed kept; the last
// line may have none), however long. It returns fn's error or r's, nil at
// the end of r.
func eachLine(r io.Reader, fn func(line []byte) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if len(line) > 0 {
			if ferr := fn(line); ferr != nil {
				return ferr
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}
