package tlsrpt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
)

// MaxSize bounds a report after decompression and any single input (a
// gzip bomb or an endless file is an error, not an exhausted memory).
const MaxSize = 64 << 20

// maxDepth bounds the nesting of multipart e-mails.
const maxDepth = 8

// ReadFile reads name with Decode; errors name the file.
func ReadFile(name string) ([]*Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %w", name, malformed("larger than %d MiB", MaxSize>>20))
	}
	rs, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rs, nil
}

// Decode reads the reports in data, whatever the form, told by content
// rather than by file name: gzip'd JSON (.json.gz, application/tlsrpt+gzip),
// JSON (.json, application/tlsrpt+json) or an e-mail (RFC 5322; a report
// part anywhere in its multipart tree, RFC 8460 §5.3). An e-mail yields every
// report part it carries (usually one).
func Decode(data []byte) ([]*Report, error) {
	switch {
	case isGzip(data):
		r, err := decodeGzip(data)
		if err != nil {
			return nil, err
		}
		return []*Report{r}, nil
	case firstByte(data) == '{':
		r, err := ParseJSON(data)
		if err != nil {
			return nil, err
		}
		return []*Report{r}, nil
	case firstByte(data) == '[':
		return nil, malformed("JSON: got an array, expected a report object")
	case len(bytes.TrimSpace(data)) == 0:
		return nil, malformed("empty file: expected JSON, gzip'd JSON or an e-mail")
	}
	return decodeMail(data)
}

func isGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

func firstByte(data []byte) byte {
	data = bytes.TrimLeft(data, " \t\r\n\ufeff") // a UTF-8 byte-order mark too
	if len(data) == 0 {
		return 0
	}
	return data[0]
}

func decodeGzip(data []byte) (*Report, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, malformed("gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxSize+1))
	if err != nil {
		return nil, malformed("gzip: %v", err)
	}
	if len(out) > MaxSize {
		return nil, malformed("gzip: more than %d MiB once decompressed", MaxSize>>20)
	}
	if isGzip(out) {
		return nil, malformed("gzip: the content is gzip'd twice")
	}
	return ParseJSON(bytes.TrimPrefix(out, []byte("\xef\xbb\xbf")))
}

// decodeMail finds the report parts of an e-mail.
func decodeMail(data []byte) ([]*Report, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, malformed("neither JSON, gzip nor an e-mail (%v)", err)
	}
	if msg.Header.Get("Content-Type") == "" && msg.Header.Get("From") == "" && msg.Header.Get("MIME-Version") == "" {
		return nil, malformed("neither JSON, gzip nor an e-mail (no From, MIME-Version or Content-Type header field)")
	}
	var reports []*Report
	n, err := walkPart(msg.Header, msg.Body, 0, "message", &reports)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, malformed("e-mail without a report: expected an application/tlsrpt+gzip or application/tlsrpt+json part (or a .json.gz/.json attachment)")
	}
	return reports, nil
}

// header is what walkPart needs of mail.Header and textproto.MIMEHeader.
type header interface{ Get(string) string }

// walkPart adds the reports of one MIME entity and returns how many report
// parts it met.
func walkPart(h header, body io.Reader, depth int, where string, out *[]*Report) (int, error) {
	if depth > maxDepth {
		return 0, malformed("%s: multipart nested deeper than %d", where, maxDepth)
	}
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		if ct != "" {
			return 0, nil // an unreadable Content-Type on a part is not a report part
		}
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return 0, malformed("%s: %s without a boundary parameter", where, mt)
		}
		mr := multipart.NewReader(body, boundary)
		found := 0
		for i := 1; ; i++ {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return found, nil
			}
			if err != nil {
				return found, malformed("%s: part %d: %v", where, i, err)
			}
			n, err := walkPart(p.Header, p, depth+1, fmt.Sprintf("%s part %d", where, i), out)
			if err != nil {
				return found, err
			}
			found += n
		}
	}
	kind := reportKind(mt, params, h.Get("Content-Disposition"))
	if kind == "" {
		return 0, nil
	}
	raw, err := io.ReadAll(io.LimitReader(transferDecoder(h.Get("Content-Transfer-Encoding"), body), MaxSize+1))
	if err != nil {
		return 0, malformed("%s (%s): %v", where, mt, err)
	}
	if len(raw) > MaxSize {
		return 0, malformed("%s (%s): larger than %d MiB", where, mt, MaxSize>>20)
	}
	var r *Report
	switch {
	case isGzip(raw):
		r, err = decodeGzip(raw)
	case kind == "gzip":
		err = malformed("not gzip data (Content-Transfer-Encoding %q)", h.Get("Content-Transfer-Encoding"))
	default:
		r, err = ParseJSON(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))
	}
	if err != nil {
		return 0, fmt.Errorf("%s (%s): %w", where, mt, err)
	}
	*out = append(*out, r)
	return 1, nil
}

// reportKind says whether a part is a report: "gzip", "json" or "". The
// media types of RFC 8460 §5.3 decide; generic types count when the file
// name says report (some senders attach application/gzip or
// application/octet-stream named *.json.gz).
func reportKind(mt string, params map[string]string, disposition string) string {
	switch mt {
	case "application/tlsrpt+gzip":
		return "gzip"
	case "application/tlsrpt+json":
		return "json"
	}
	name := strings.ToLower(params["name"])
	if _, dp, err := mime.ParseMediaType(disposition); err == nil && dp["filename"] != "" {
		name = strings.ToLower(dp["filename"])
	}
	switch mt {
	case "application/gzip", "application/x-gzip", "application/octet-stream", "application/json":
		switch {
		case strings.HasSuffix(name, ".json.gz"), strings.HasSuffix(name, ".json.gzip"):
			return "gzip"
		case strings.HasSuffix(name, ".json"):
			return "json"
		}
	}
	return ""
}

func transferDecoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// base64Cleaner drops the line breaks (and other white space) of a
// base64 body, which encoding/base64 does not skip everywhere.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
