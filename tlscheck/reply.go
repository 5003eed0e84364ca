package tlscheck

import (
	"bufio"

	"github.com/opsteam/ops/internal/smtpclient"
)

// Replies are read by the SMTP protocol layer shared with ops' mail
// notifications (internal/smtpclient); these names keep tlscheck's API.

// Limits of a reply (bytes per line, lines per reply).
const (
	maxReplyLine  = smtpclient.MaxReplyLine
	maxReplyLines = smtpclient.MaxReplyLines
)

// ErrMalformedReply is returned for text that is not an SMTP reply.
var ErrMalformedReply = smtpclient.ErrMalformedReply

// Reply is one (possibly multi-line) SMTP reply.
type Reply = smtpclient.Reply

// ReadReply reads one SMTP reply (see smtpclient.ReadReply).
func ReadReply(r *bufio.Reader) (Reply, error) { return smtpclient.ReadReply(r) }

// ParseReplyLine splits one reply line into code, continuation flag and text.
func ParseReplyLine(line string) (code int, cont bool, text string, err error) {
	return smtpclient.ParseReplyLine(line)
}

// ParseReply parses a complete reply from text (for tests and fuzzing).
func ParseReply(s string) (Reply, error) { return smtpclient.ParseReply(s) }

// EHLOExtensions returns the upper-cased keywords of an EHLO reply.
func EHLOExtensions(r Reply) []string { return smtpclient.EHLOExtensions(r) }

func hasExtension(exts []string, name string) bool {
	for _, e := range exts {
		if e == name {
			return true
		}
	}
	return false
}

func clip(s string) string { return smtpclient.Clip(s) }
