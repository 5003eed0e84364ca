package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// The protocol layer: SMTP replies read strictly and boundedly, and a
// session that sends one command line and reads its reply. tlscheck's
// prober and the mail Client both speak through it.

// Limits that keep a hostile or broken server from making the prober read
// forever (the context deadline bounds time; these bound memory).
const (
	MaxReplyLine  = 4096 // bytes per reply line (RFC 5321: 512; be lenient)
	MaxReplyLines = 1000 // lines per multi-line reply
)

// ErrMalformedReply is returned for text that is not an SMTP reply.
var ErrMalformedReply = errors.New("malformed SMTP reply")

// Reply is one (possibly multi-line) SMTP reply.
type Reply struct {
	Code  int      // 220, 250, 454, ...
	Lines []string // text after "NNN-" / "NNN ", one per line
}

// String renders the reply on one line: "250 first line / second line".
func (r Reply) String() string {
	return fmt.Sprintf("%d %s", r.Code, strings.Join(r.Lines, " / "))
}

// Text returns the text of all lines joined by newlines.
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

// ReadReply reads one SMTP reply: continuation lines "NNN-text" up to the
// final "NNN text" (or a bare "NNN"). Every line must carry the same code.
// It never reads past the final line, so nothing the server pipelined is lost.
func ReadReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	for n := 0; ; n++ {
		if n >= MaxReplyLines {
			return rep, fmt.Errorf("%w: more than %d lines", ErrMalformedReply, MaxReplyLines)
		}
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) && (n > 0 || line != "") {
				err = io.ErrUnexpectedEOF
			}
			return rep, err
		}
		code, cont, text, err := ParseReplyLine(line)
		if err != nil {
			return rep, err
		}
		if n == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return rep, fmt.Errorf("%w: code %d in a continuation of %d", ErrMalformedReply, code, rep.Code)
		}
		rep.Lines = append(rep.Lines, text)
		if !cont {
			return rep, nil
		}
	}
}

// readLine reads one CRLF- or LF-terminated line of at most MaxReplyLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		b = append(b, chunk...)
		if len(b) > MaxReplyLine {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformedReply, MaxReplyLine)
		}
		if err != nil {
			return string(b), err
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// ParseReplyLine splits one reply line into code, continuation flag and text.
func ParseReplyLine(line string) (code int, cont bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("%w: %q", ErrMalformedReply, Clip(line))
	}
	for i := 0; i < 3; i++ {
		if line[i] < '0' || line[i] > '9' {
			return 0, false, "", fmt.Errorf("%w: %q", ErrMalformedReply, Clip(line))
		}
	}
	if line[0] < '2' || line[0] > '5' {
		return 0, false, "", fmt.Errorf("%w: %q: reply code out of range", ErrMalformedReply, Clip(line))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		cont = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: %q", ErrMalformedReply, Clip(line))
	}
	return code, cont, line[4:], nil
}

// ParseReply parses a complete reply from text (for tests and fuzzing).
func ParseReply(s string) (Reply, error) {
	return ReadReply(bufio.NewReader(strings.NewReader(s)))
}

// EHLOExtensions returns the upper-cased keywords of an EHLO reply (every
// line but the first, which is the greeting), e.g. STARTTLS, SIZE, PIPELINING.
func EHLOExtensions(r Reply) []string {
	var out []string
	for i, l := range r.Lines {
		if i == 0 {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		out = append(out, strings.ToUpper(f[0]))
	}
	return out
}

// Clip shortens s for an error message.
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Session is one SMTP conversation over conn: commands written one line at
// a time, replies read with ReadReply (never past a reply's final line, so
// nothing the server sent early is lost).
type Session struct {
	Conn net.Conn
	R    *bufio.Reader
}

// NewSession starts reading conn.
func NewSession(conn net.Conn) *Session { return &Session{Conn: conn, R: bufio.NewReader(conn)} }

// Read reads the next reply.
func (s *Session) Read() (Reply, error) { return ReadReply(s.R) }

// Cmd sends one command line (CRLF added) and reads its reply. A line with a
// line break in it is refused: it would be two commands.
func (s *Session) Cmd(line string) (Reply, error) {
	if strings.ContainsAny(line, "\r\n") {
		return Reply{}, fmt.Errorf("smtp: refusing a command with a line break: %q", Clip(line))
	}
	if _, err := io.WriteString(s.Conn, line+"\r\n"); err != nil {
		return Reply{}, err
	}
	return ReadReply(s.R)
}
