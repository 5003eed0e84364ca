package tlscheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Format is the syntax of a policy file.
type Format int

// Policy file formats.
const (
	FormatSendmail Format = iota // sendmail access text (makemap input)
	FormatPostfix                // Postfix smtp_tls_policy_maps text (postmap input)
)

func (f Format) String() string {
	if f == FormatPostfix {
		return "postfix"
	}
	return "sendmail"
}

// Entry is one line of a policy file.
type Entry struct {
	Key   string // as written, e.g. "TLS_Srv:mx.example.com"
	Value string // right-hand side, surrounding blanks removed
	Line  int

	pf *postfixEntry // FormatPostfix only
}

// Policy is a parsed policy file. Lookups are case-insensitive, as makemap
// and postmap fold keys to lower case.
type Policy struct {
	Name    string // file name, for messages
	Format  Format
	Entries []Entry

	index map[string]int // lower-cased key → first entry with it
	dups  []int          // entries whose key repeats an earlier one
}

// SyntaxError is a problem at one line of a policy file.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ErrPolicy marks every error returned by ParsePolicy for the policy's
// content (a read error is not one).
var ErrPolicy = errors.New("invalid policy")

// LoadPolicy reads a policy file (see ParsePolicy). A file that cannot be
// opened or read is ErrConfig.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, asConfigError(fmt.Errorf("open policy: %w", err))
	}
	defer f.Close()
	p, err := ParsePolicy(path, f)
	if err != nil && !errors.Is(err, ErrPolicy) {
		return nil, asConfigError(err) // a read error (a directory, EIO)
	}
	return p, err
}

// ParsePolicy parses sendmail access text or a Postfix TLS policy table,
// detecting which from the content: tagged keys (TLS_Srv:, TLS_Rcpt:, …) mean
// sendmail; untagged keys whose right-hand side starts with a Postfix
// security level (none, may, encrypt, dane, dane-only, fingerprint, verify,
// secure) mean Postfix. name is used in messages (FILE:LINE: …).
func ParsePolicy(name string, r io.Reader) (*Policy, error) {
	lines, err := readLogicalLines(r)
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", name, err)
	}
	format := detectFormat(lines)
	return parseLines(name, format, lines)
}

// ParsePolicyFormat parses with a given format, without detection.
func ParsePolicyFormat(name string, format Format, r io.Reader) (*Policy, error) {
	lines, err := readLogicalLines(r)
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", name, err)
	}
	return parseLines(name, format, lines)
}

// MaxLineBytes is the longest line of a policy file ops reads; a longer line
// is an error at its line (postmap has no limit; makemap's is much lower,
// see makemapLineMax).
const MaxLineBytes = 1 << 20

// makemapLineMax is the longest line makemap accepts: it reads each line
// with fgets into a 1024-byte buffer, and a line of 1023 bytes or more
// before its newline is "line too long (1024 bytes max)": not entered, and
// the rest of it is read as the following lines.
const makemapLineMax = 1022

type rawLine struct {
	n    int
	text string
	cont bool // starts with blank (a continuation for postmap; an error for makemap)
	size int  // bytes before the newline (comments and blank lines are kept only when over makemapLineMax)
	skip bool // a comment or blank line, kept for its size
	huge bool // longer than MaxLineBytes: text is empty
}

func readLogicalLines(r io.Reader) ([]rawLine, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var out []rawLine
	for n := 1; ; n++ {
		b, size, err := readPolicyLine(br, MaxLineBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if size == 0 && errors.Is(err, io.EOF) {
			return out, nil
		}
		if size > MaxLineBytes {
			out = append(out, rawLine{n: n, size: size, huge: true})
		} else {
			t := strings.TrimRight(string(b), "\r")
			trim := strings.TrimSpace(t)
			if trim == "" || strings.HasPrefix(trim, "#") {
				if size > makemapLineMax {
					out = append(out, rawLine{n: n, size: size, skip: true})
				}
			} else {
				out = append(out, rawLine{n: n, text: t, size: size, cont: t[0] == ' ' || t[0] == '\t'})
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
	}
}

// readPolicyLine reads one line and returns it without its newline, with its
// length in bytes; a line longer than max is read to its end but not kept.
// err is io.EOF for the last line when it has no newline (size > 0) and at
// the end (size 0).
func readPolicyLine(br *bufio.Reader, max int) (line []byte, size int, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		done := err == nil
		if done {
			chunk = chunk[:len(chunk)-1]
		}
		size += len(chunk)
		if size <= max {
			line = append(line, chunk...)
		} else {
			line = nil
		}
		switch {
		case done:
			return line, size, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return line, size, err
		}
	}
}

var sendmailTags = map[string]bool{
	"tls_srv": true, "tls_rcpt": true, "tls_clt": true, "try_tls": true,
	"certissuer": true, "certsubject": true, "subjaltname": true,
	"srv_features": true, "clt_features": true, "tls_srv_features": true, "tls_clt_features": true,
	"connect": true, "from": true, "to": true, "spam": true, "authinfo": true,
}

var postfixLevels = map[string]bool{
	"none": true, "may": true, "encrypt": true, "dane": true, "dane-only": true,
	"fingerprint": true, "verify": true, "secure": true,
}

func detectFormat(lines []rawLine) Format {
	sm, pf := 0, 0
	for _, l := range lines {
		if l.cont || l.skip || l.huge {
			continue
		}
		key, val := splitKV(l.text)
		if tag, _, ok := strings.Cut(key, ":"); ok && sendmailTags[strings.ToLower(tag)] {
			sm++
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(val), " ")
		first, _, _ = strings.Cut(first, "\t")
		if postfixLevels[first] {
			pf++
		}
	}
	if pf > sm {
		return FormatPostfix
	}
	return FormatSendmail
}

func splitKV(s string) (key, val string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func parseLines(name string, format Format, lines []rawLine) (*Policy, error) {
	p := &Policy{Name: name, Format: format, index: map[string]int{}}
	var errs []error
	for _, l := range lines {
		if l.huge {
			errs = append(errs, &SyntaxError{name, l.n, fmt.Sprintf("line longer than %d bytes", MaxLineBytes)})
			continue
		}
		if format == FormatSendmail && l.size > makemapLineMax {
			errs = append(errs, &SyntaxError{name, l.n, fmt.Sprintf("line of %d bytes: makemap reads at most %d (\"line too long (1024 bytes max)\"), leaves it out and reads the rest as further lines", l.size, makemapLineMax)})
			continue
		}
		if l.skip {
			continue
		}
		if l.cont {
			if format == FormatPostfix && len(p.Entries) > 0 {
				last := &p.Entries[len(p.Entries)-1]
				last.Value = strings.TrimSpace(last.Value + " " + strings.TrimSpace(l.text))
				continue
			}
			errs = append(errs, &SyntaxError{name, l.n, "line starts with a blank: makemap takes the whole line as an empty key (entries must start in column 1)"})
			continue
		}
		key, val := splitKV(l.text)
		if val == "" {
			errs = append(errs, &SyntaxError{name, l.n, fmt.Sprintf("key %q has no right-hand side", key)})
			continue
		}
		p.Entries = append(p.Entries, Entry{Key: key, Value: val, Line: l.n})
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		if format == FormatPostfix {
			pe, err := parsePostfixValue(e.Value)
			if err != nil {
				errs = append(errs, &SyntaxError{name, e.Line, err.Error()})
				continue
			}
			e.pf = pe
		}
		k := strings.ToLower(e.Key)
		if _, ok := p.index[k]; ok {
			p.dups = append(p.dups, i)
			continue
		}
		p.index[k] = i
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, errors.Join(errs...))
	}
	return p, nil
}

// Get returns the entry for an exact key (case-insensitive).
func (p *Policy) Get(key string) (*Entry, bool) {
	if p == nil {
		return nil, false
	}
	i, ok := p.index[strings.ToLower(key)]
	if !ok {
		return nil, false
	}
	return &p.Entries[i], true
}

// first returns the first key of keys present in the policy.
func (p *Policy) first(keys []string) (string, *Entry) {
	for _, k := range keys {
		if e, ok := p.Get(k); ok {
			return k, e
		}
	}
	return "", nil
}

// HostKeys lists the keys of sendmail's domain walk (ruleset D): tag+host,
// then tag+each parent domain.
func HostKeys(tag, host string) []string {
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil || strings.HasPrefix(host, "[") {
		return nil // an address literal is not a name: only the address walk applies
	}
	var keys []string
	for {
		keys = append(keys, tag+host)
		i := strings.IndexByte(host, '.')
		if i < 0 {
			return keys
		}
		host = host[i+1:]
		if host == "" {
			return keys
		}
	}
}

// SendmailAddr renders an address as sendmail's ${server_addr}: dotted quad
// for IPv4, "IPv6:" plus eight uncompressed groups for IPv6 (IPV6_FULL, as
// Debian builds it).
func SendmailAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	var g []string
	for i := 0; i < 16; i += 2 {
		g = append(g, strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16))
	}
	return "IPv6:" + strings.Join(g, ":")
}

// AddrKeys lists the keys of sendmail's address walk (ruleset A): the whole
// address, then with the last octet (IPv4) or group (IPv6) removed, repeatedly.
func AddrKeys(tag string, a netip.Addr) []string {
	if !a.IsValid() {
		return nil
	}
	s := SendmailAddr(a)
	sep := "."
	prefix := ""
	if strings.HasPrefix(s, "IPv6:") {
		sep = ":"
		prefix = "IPv6:"
		s = strings.TrimPrefix(s, "IPv6:")
	}
	var keys []string
	for s != "" {
		keys = append(keys, tag+prefix+s)
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		s = s[:i]
	}
	return keys
}

// ServerKeys lists, in lookup order, the keys sendmail tries for a
// host-keyed tag (TLS_Srv:, Try_TLS:, TLS_Clt:): name walk, address walk,
// bare tag.
func ServerKeys(tag, name string, addr netip.Addr) []string {
	keys := HostKeys(tag, name)
	keys = append(keys, AddrKeys(tag, addr)...)
	return append(keys, tag)
}

// RcptKeys lists, in lookup order, the keys sendmail's tls_rcpt tries for a
// recipient: user+detail@domain, user+*@domain, user@domain; user+detail@,
// user+*@, user@; domain and its parents; the bare tag.
func RcptKeys(rcpt string) []string {
	const tag = "TLS_Rcpt:"
	rcpt = strings.Trim(strings.TrimSpace(rcpt), "<>")
	rcpt = strings.TrimSuffix(rcpt, ".")
	var keys []string
	local, domain, hasAt := rcpt, "", false
	if i := strings.LastIndexByte(rcpt, '@'); i >= 0 {
		local, domain, hasAt = rcpt[:i], rcpt[i+1:], true
	}
	user, _, hasDetail := strings.Cut(local, "+")
	if hasAt && local != "" && domain != "" {
		keys = append(keys, tag+local+"@"+domain)
		if hasDetail {
			keys = append(keys, tag+user+"+*@"+domain, tag+user+"@"+domain)
		}
	}
	if local != "" {
		keys = append(keys, tag+local+"@")
		if hasDetail {
			keys = append(keys, tag+user+"+*@", tag+user+"@")
		}
	}
	if hasAt && domain != "" {
		keys = append(keys, HostKeys(tag, domain)...)
	}
	return append(keys, tag)
}

// Lookup returns the first key of keys present in the policy and its entry.
func (p *Policy) Lookup(keys []string) (key string, e *Entry, ok bool) {
	if p == nil {
		return "", nil, false
	}
	k, e := p.first(keys)
	return k, e, e != nil
}
