package restore

import (
	"context"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"regexp"
	"strings"
	"time"
)

// Cat writes the SQL of an ops dump read from r (zstd, gzip or plain) to
// w, for a stock client (`ops backup cat`). With opts.Databases empty the
// stream is written byte for byte as the dump wrote it; otherwise only the
// mapped databases' statements are written (and the header and footer),
// each SRC database under its DST name: the USE and CREATE DATABASE
// statements naming it are rewritten, which in a stream of this version
// are its only two lines naming it (the dump's layout.go). Every other
// byte is copied unchanged. Statements are read as Restore reads them (the same
// splitter, renamer and lexer state); a statement Restore would refuse
// fails Cat too. opts.Compression, when set, is the method the stream must
// be in; opts.Finish runs after the last byte was written. On error, what
// was written to w must be discarded.
func Cat(ctx context.Context, opts RestoreOptions, r io.Reader, w io.Writer) (*RestoreResult, error) {
	res, rn, dr, closeDec, err := openStream(opts, r)
	if err != nil {
		return nil, err
	}
	defer closeDec()
	// A renamed database's old name is "another database of the server":
	// a statement naming it elsewhere (a body qualified with it) would
	// write into it where the copy is loaded next to it, and is refused as
	// Restore refuses it there.
	var renamed []string
	for src, dst := range opts.Databases {
		if src != dst {
			renamed = append(renamed, src)
		}
	}
	c := &catter{rec: &recorder{r: &countingReader{r: dr}}, w: w, rn: rn, g: guard.NewGuard(opts.Databases, renamed), keep: true}
	if err := c.run(ctx); err != nil {
		return nil, err
	}
	if missing := rn.missing(); len(missing) > 0 {
		return nil, fmt.Errorf("database(s) %s not found in the backup", strings.Join(missing, ", "))
	}
	if opts.Finish != nil {
		if err := opts.Finish(); err != nil {
			return nil, err
		}
	}
	res.Statements, res.RawBytes, res.Databases = c.n, c.rec.r.n.Load(), rn.targets
	res.FinishedAt = time.Now().UTC()
	return res, nil
}

// recorder keeps the bytes read through it from offset base on, for Cat
// to copy the stream's own bytes.
type recorder struct {
	r    *countingReader
	buf  []byte
	base int64
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// span returns the recorded bytes [from, to).
func (r *recorder) span(from, to int64) []byte { return r.buf[from-r.base : to-r.base] }

// drop forgets the bytes before offset at.
func (r *recorder) drop(at int64) {
	k := int(at - r.base)
	r.buf = append(r.buf[:0], r.buf[k:]...)
	r.base = at
}

// catter copies a stream segment by segment: a segment is one statement
// with what follows it up to the next statement (its delimiter, comments,
// DELIMITER commands), kept or dropped with the statement.
type catter struct {
	rec    *recorder
	w      io.Writer
	rn     *renamer
	g      *guard.Guard
	n      int64
	start  int64  // the current segment's first byte
	keep   bool   // the current segment is written
	sqlLen int    // the current statement's length (it begins the segment)
	repl   string // what replaces it, when not ""
	footer bool   // the footer has begun: every statement is kept
}

func (c *catter) run(ctx context.Context) error {
	sp := sqltext.NewSplitter(c.rec)
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		lex := c.g.Sess.Lex
		sp.SetLex(lex)
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read SQL stream: %w", err)
		}
		if err := c.flush(st.Offset); err != nil {
			return err
		}
		c.n++
		if c.n == 1 && !c.rec.r.isOps() {
			return fmt.Errorf("the stream is not an ops dump (it does not begin with %q): %w", sqltext.OpsDumpHead, guard.ErrRefused)
		}
		if err := c.statement(st, lex); err != nil {
			return fmt.Errorf("statement %d at line %d: %w", c.n, st.Line, err)
		}
	}
	if c.rec.r.truncated() {
		return fmt.Errorf("the stream ends without %q: the backup is truncated", sqltext.FooterMarker)
	}
	return c.flush(c.rec.base + int64(len(c.rec.buf)))
}

// statement decides on st: kept or not, and the name to rewrite.
func (c *catter) statement(st sqltext.Statement, lex sqltext.LexState) error {
	raw := c.rec.span(st.Offset, min(st.Offset+int64(len(st.SQL)), c.rec.base+int64(len(c.rec.buf))))
	if string(raw) != st.SQL {
		return fmt.Errorf("the statement is not the stream's bytes (an ops dump of another layout?)")
	}
	c.sqlLen, c.repl = len(st.SQL), ""
	if !c.footer && st.SQL == FooterFirst {
		c.footer = true
	}
	sqlText, keep, err := c.rn.rewrite(st.SQL, lex)
	if err != nil {
		return err
	}
	c.keep = keep || c.footer
	if !c.keep {
		return nil
	}
	if c.rn.target() != c.rn.current && createTriggerRE.MatchString(sqlText) {
		// a trigger dumped by an older ops: CREATE TRIGGER db.trg … ON db.t
		sqlText = sqltext.UnqualifyTrigger(sqlText, c.rn.current)
	}
	if sqlText != st.SQL {
		c.repl = sqlText
	}
	if sqltext.IsInsert(sqlText) {
		return nil
	}
	if c.n == 1 {
		sqlText = trimSandbox(sqlText)
	}
	_, err = c.g.Check(sqlText) // moves the lexer's state as the server will, refuses what ops does not write
	return err
}

// flush writes (or skips) the current segment, which ends at offset end.
func (c *catter) flush(end int64) error {
	if end < c.start {
		return nil
	}
	seg := c.rec.span(c.start, end)
	if c.keep {
		var err error
		if c.repl != "" {
			_, err = fmt.Fprintf(c.w, "%s%s", c.repl, seg[c.sqlLen:])
		} else {
			_, err = c.w.Write(seg)
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	c.rec.drop(end)
	c.start = end
	return nil
}

var createTriggerRE = regexp.MustCompile(`(?is)^\s*CREATE\s+(DEFINER\s*=\s*\S+\s+)?TRIGGER\s`)

// FooterFirst is the footer's first statement (the dump's header.go).
const FooterFirst = "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */"

func trimSandbox(s string) string {
	if len(s) >= len(sqltext.SandboxLine)-1 && s[:len(sqltext.SandboxLine)-1] == sqltext.SandboxLine[:len(sqltext.SandboxLine)-1] {
		return s[len(sqltext.SandboxLine)-1:]
	}
	return s
}
