package sqltext

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Statement is one SQL statement of a script, as the mysql command-line
// client would send it.
type Statement struct {
	SQL        string // without the delimiter; comments inside are kept
	Line       int    // 1-based line where it starts
	Offset     int64  // byte offset of SQL in the input
	Delimiter  string // the delimiter in force
	Terminated bool   // ended by the delimiter (false: by the end of input)

	tailComment bool // SQL ends inside a -- or # comment
}

// Splitter cuts a SQL script into statements like the mysql client:
// '…', "…" (with backslash escapes) and `…` quoting, -- and # line
// comments and /* */ comments (dropped between statements, kept inside
// them), /*! … */ and /*M! … */ versioned comments treated as code, and the
// client's DELIMITER command. Statements may have any length.
type Splitter struct {
	r     io.Reader
	buf   []byte
	pos   int
	end   int
	eof   bool
	err   error
	off   int64 // stream offset of buf[0]
	line  int
	delim string
	stmt  []byte
	plain [256]bool // bytes copied as they are in a statement (see setDelimiter)
	exact bool      // tests: no plain bytes, every byte through the state machine
	lex   LexState  // how the server reads the statements (see SetLex)
}

// SetLex sets the session state the next statements are read in: with
// NO_BACKSLASH_ESCAPES a backslash in a string is a byte like any other,
// with ANSI_QUOTES "…" is an identifier (no escapes), and in a multi-byte
// client set a character is taken whole (its trail byte can be a backslash
// or a backquote).
func (s *Splitter) SetLex(l LexState) {
	if l == s.lex {
		return
	}
	s.lex = l
	s.setDelimiter(s.delim)
}

// NewSplitter reads a script from r.
func NewSplitter(r io.Reader) *Splitter {
	s := &Splitter{r: r, buf: make([]byte, 256<<10), line: 1}
	s.setDelimiter(";")
	return s
}

// setDelimiter sets the delimiter and the bytes that are plain under it:
// inside a statement, outside quotes and comments, a plain byte is copied
// and changes nothing else (not a quote, a comment's start, the start of
// the delimiter, a newline or other space), so runs of them are copied at
// once. Most of an INSERT's bytes outside its string literals are plain.
func (s *Splitter) setDelimiter(d string) {
	s.delim = d
	if s.exact {
		return
	}
	for c := range s.plain {
		b := byte(c)
		s.plain[c] = !IsSpace(b) && b != d[0] && !strings.ContainsRune("'\"`#-/", rune(b)) && !(b >= 0x80 && s.lex.Charset.MultiByte())
	}
}

// fill makes at least n bytes available after pos unless the input ends.
func (s *Splitter) fill(n int) bool {
	for s.end-s.pos < n && !s.eof {
		if s.pos > 0 {
			copy(s.buf, s.buf[s.pos:s.end])
			s.off += int64(s.pos)
			s.end -= s.pos
			s.pos = 0
		}
		if s.end == len(s.buf) {
			nb := make([]byte, 2*len(s.buf))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
		k, err := s.r.Read(s.buf[s.end:])
		s.end += k
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.err = err
			}
		}
	}
	return s.end-s.pos >= n
}

func IsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

const (
	stNormal = iota
	stSingle
	stDouble
	stBacktick
	stLineComment
	stBlockComment
)

// delimiterLine runs a DELIMITER command at the start of a statement and
// reports whether there was one.
func (s *Splitter) delimiterLine() (bool, error) {
	s.fill(10)
	if s.end-s.pos >= 10 && strings.EqualFold(string(s.buf[s.pos:s.pos+9]), "delimiter") && (s.buf[s.pos+9] == ' ' || s.buf[s.pos+9] == '\t') {
		return true, s.delimiterCommand()
	}
	return false, nil
}

// copyPlain copies the run of plain bytes at the read position.
func (s *Splitter) copyPlain() {
	i := s.pos + 1
	for i < s.end && s.plain[s.buf[i]] {
		i++
	}
	s.stmt = append(s.stmt, s.buf[s.pos:i]...)
	s.pos = i
}

// copyChar copies the multi-byte character at the read position whole
// (its trail byte may be a quote or a backslash in ASCII).
func (s *Splitter) copyChar() {
	s.fill(4)
	n := mbLenBytes(s.lex.Charset, s.buf[s.pos:min(s.end, s.pos+4)])
	s.stmt = append(s.stmt, s.buf[s.pos:s.pos+n]...)
	s.pos += n
}

// Next returns the next statement, or io.EOF after the last one.
func (s *Splitter) Next() (Statement, error) {
	s.stmt = s.stmt[:0]
	started, tail, versioned := false, false, false // versioned: in a /*! */ the server runs (see versionedEdge)
	var st Statement
	state := stNormal
	emit := func(terminated bool) (Statement, error) {
		st.SQL = string(bytes.TrimRight(s.stmt, " \t\r\n\f\v"))
		st.Delimiter = s.delim
		st.Terminated = terminated
		st.tailComment = tail
		return st, nil
	}
	for {
		if s.pos >= s.end && !s.fill(1) {
			if s.err != nil {
				return Statement{}, s.err
			}
			if started {
				return emit(false)
			}
			return Statement{}, io.EOF
		}
		c := s.buf[s.pos]
		switch state {
		case stNormal:
			if !started {
				if IsSpace(c) || (c >= 0x80 && HighSpace[s.lex.Charset][c-0x80]) { // 0xA0 in latin1…: a space to the server
					if c == '\n' {
						s.line++
					}
					s.pos++
					continue
				}
				if c == 'd' || c == 'D' {
					if ok, err := s.delimiterLine(); ok || err != nil {
						if err != nil {
							return Statement{}, err
						}
						continue
					}
				}
				if kind := s.commentStart(false); kind != stNormal {
					state = kind
					continue
				}
				started = true
				st.Line = s.line
				st.Offset = s.off + int64(s.pos)
			}
			if s.plain[c] {
				s.copyPlain()
				tail = false
				continue
			}
			if c >= 0x80 && s.lex.Charset.MultiByte() {
				s.copyChar()
				tail = false
				continue
			}
			if c == s.delim[0] && (len(s.delim) == 1 || (s.fill(len(s.delim)) && bytes.HasPrefix(s.buf[s.pos:s.end], []byte(s.delim)))) {
				s.pos += len(s.delim)
				if len(s.stmt) == 0 { // empty statement: ignored, like the mysql client
					started = false
					continue
				}
				return emit(true)
			}
			if c == '/' && s.versionedEdge(&versioned) {
				tail = false
				continue
			}
			if kind := s.commentStart(true); kind != stNormal {
				state = kind
				tail = kind == stLineComment
				continue
			}
			switch c {
			case '\'':
				state = stSingle
			case '"':
				state = stDouble
			case '`':
				state = stBacktick
			case '\n':
				s.line++
			}
			if !IsSpace(c) {
				tail = false
			}
			s.stmt = append(s.stmt, c)
			s.pos++
		case stSingle, stDouble, stBacktick:
			state = s.quoted(state)
		case stLineComment:
			state = s.lineComment(started)
		case stBlockComment:
			state = s.blockComment(started)
		}
	}
}

// quoted consumes a '…', "…" or `…` token (state says which) up to its
// closing quote or the end of the buffer, and returns the next state.
func (s *Splitter) quoted(state int) int {
	q := byte('\'')
	switch state {
	case stDouble:
		q = '"'
	case stBacktick:
		q = '`'
	}
	esc := q != '`' && !s.lex.NoBackslash && !(q == '"' && s.lex.AnsiQuotes)
	if s.lex.Charset.MultiByte() {
		return s.quotedMB(state, q, esc)
	}
	rest := s.buf[s.pos:s.end]
	i := bytes.IndexByte(rest, q) // then a backslash before it, if any (not in `…`)
	if esc {
		end := i
		if end < 0 {
			end = len(rest)
		}
		if b := bytes.IndexByte(rest[:end], '\\'); b >= 0 {
			i = b
		}
	}
	if i < 0 {
		s.line += bytes.Count(rest, []byte{'\n'})
		s.stmt = append(s.stmt, rest...)
		s.pos = s.end
		return state
	}
	s.line += bytes.Count(rest[:i], []byte{'\n'})
	s.stmt = append(s.stmt, rest[:i+1]...)
	s.pos += i + 1
	if rest[i] == q {
		return stNormal
	}
	// backslash: the next byte is escaped
	if s.pos < s.end || s.fill(1) {
		if s.buf[s.pos] == '\n' {
			s.line++
		}
		s.stmt = append(s.stmt, s.buf[s.pos])
		s.pos++
	}
	return state
}

// quotedMB is quoted in a multi-byte client set: byte by byte, each
// multi-byte character whole.
func (s *Splitter) quotedMB(state int, q byte, esc bool) int {
	for {
		if s.pos >= s.end && !s.fill(1) {
			return state
		}
		c := s.buf[s.pos]
		if c >= 0x80 {
			s.fill(4)
			n := mbLenBytes(s.lex.Charset, s.buf[s.pos:min(s.end, s.pos+4)])
			s.stmt = append(s.stmt, s.buf[s.pos:s.pos+n]...)
			s.pos += n
			continue
		}
		s.stmt = append(s.stmt, c)
		s.pos++
		switch {
		case c == '\n':
			s.line++
		case c == q:
			return stNormal
		case esc && c == '\\':
			// the next byte is escaped, even a lead byte (the server's yySkip)
			if s.pos < s.end || s.fill(1) {
				if s.buf[s.pos] == '\n' {
					s.line++
				}
				s.stmt = append(s.stmt, s.buf[s.pos])
				s.pos++
			}
		}
	}
}

// lineComment consumes a -- or # comment up to its end of line (copied
// into the statement when one has started) and returns the next state.
// Like the server's lexer (MY_LEX_COMMENT), a NUL byte also ends the
// comment; the NUL itself is then read as code.
func (s *Splitter) lineComment(started bool) int {
	rest := s.buf[s.pos:s.end]
	i := bytes.IndexByte(rest, '\n')
	end := i
	if end < 0 {
		end = len(rest)
	}
	if z := bytes.IndexByte(rest[:end], 0); z >= 0 {
		if started {
			s.stmt = append(s.stmt, rest[:z]...)
		}
		s.pos += z
		return stNormal
	}
	if i < 0 {
		if started {
			s.stmt = append(s.stmt, rest...)
		}
		s.pos = s.end
		return stLineComment
	}
	if started {
		s.stmt = append(s.stmt, rest[:i+1]...)
	}
	s.pos += i + 1
	s.line++
	return stNormal
}

// blockComment consumes a /* */ comment up to its end (copied into the
// statement when one has started) and returns the next state.
func (s *Splitter) blockComment(started bool) int {
	rest := s.buf[s.pos:s.end]
	i := bytes.Index(rest, []byte("*/"))
	if i >= 0 {
		s.line += bytes.Count(rest[:i], []byte{'\n'})
		if started {
			s.stmt = append(s.stmt, rest[:i+2]...)
		}
		s.pos += i + 2
		return stNormal
	}
	// keep a trailing '*' for the next round
	k := len(rest)
	if k > 0 && rest[k-1] == '*' {
		k--
	}
	if k == 0 {
		if !s.fill(s.end - s.pos + 1) {
			// input ends inside the comment
			if started {
				s.stmt = append(s.stmt, rest...)
			}
			s.line += bytes.Count(rest, []byte{'\n'})
			s.pos = s.end
		}
		return stBlockComment
	}
	s.line += bytes.Count(rest[:k], []byte{'\n'})
	if started {
		s.stmt = append(s.stmt, rest[:k]...)
	}
	s.pos += k
	return stBlockComment
}

// commentStart reports whether a comment starts at pos (and consumes the
// opening when started is false so that it is not copied). The opening
// bytes of a comment inside a statement are copied by the caller's state.
func (s *Splitter) commentStart(started bool) int {
	c := s.buf[s.pos]
	switch c {
	case '#':
		return s.openComment(1, stLineComment, started)
	case '-':
		s.fill(3)
		if s.end-s.pos >= 2 && s.buf[s.pos+1] == '-' && (s.end-s.pos == 2 || dashComment(s.lex.Charset, s.buf[s.pos+2])) {
			return s.openComment(2, stLineComment, started)
		}
	case '/':
		s.fill(4)
		if s.end-s.pos >= 2 && s.buf[s.pos+1] == '*' {
			if s.end-s.pos >= 3 && s.buf[s.pos+2] == '!' {
				return stNormal // versioned comment: code
			}
			if s.end-s.pos >= 4 && s.buf[s.pos+2] == 'M' && s.buf[s.pos+3] == '!' {
				return stNormal
			}
			return s.openComment(2, stBlockComment, started)
		}
	}
	return stNormal
}

// versionedEdge handles a '/' at the read position inside a statement:
// the end of the versioned comment *versioned says is open (then it is
// copied and true returned), or the start of one (noted in *versioned).
// As in the server's lexer, after /*!… the first */ ends the comment, so
// in "*/*" the '/' is not the start of a comment.
func (s *Splitter) versionedEdge(versioned *bool) bool {
	if *versioned && len(s.stmt) > 0 && s.stmt[len(s.stmt)-1] == '*' {
		*versioned = false
		s.stmt = append(s.stmt, '/')
		s.pos++
		return true
	}
	s.fill(4)
	rest := s.buf[s.pos:s.end]
	if bytes.HasPrefix(rest, []byte("/*!")) || bytes.HasPrefix(rest, []byte("/*M!")) {
		*versioned = true
	}
	return false
}

// openComment consumes the n opening bytes of a comment, copying them when
// inside a statement.
func (s *Splitter) openComment(n int, kind int, started bool) int {
	if started {
		s.stmt = append(s.stmt, s.buf[s.pos:s.pos+n]...)
	}
	s.pos += n
	return kind
}

// delimiterCommand handles "DELIMITER xx" up to the end of the line.
func (s *Splitter) delimiterCommand() error {
	line := s.line
	var b []byte
	for {
		if s.pos >= s.end && !s.fill(1) {
			break
		}
		c := s.buf[s.pos]
		s.pos++
		if c == '\n' {
			s.line++
			break
		}
		b = append(b, c)
	}
	f := strings.Fields(string(b[len("delimiter"):]))
	if len(f) == 0 {
		return fmt.Errorf("line %d: DELIMITER must be followed by a delimiter", line)
	}
	d := f[0]
	if strings.ContainsRune(d, '\\') {
		return fmt.Errorf("line %d: DELIMITER cannot contain a backslash", line)
	}
	s.setDelimiter(d)
	return nil
}

// SplitAll is a convenience for tests and small scripts.
func SplitAll(r io.Reader) ([]Statement, error) { return NewSplitter(r).all() }

// all returns the statements left, up to the end of the input or an error.
func (s *Splitter) all() ([]Statement, error) {
	var out []Statement
	for {
		st, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
}
