package tlscheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/output"
)

// WriteJSON writes {"results": [...]} (docs/cli.md), indented.
func WriteJSON(w io.Writer, results []Result) error {
	out := make([]Result, len(results))
	for i, r := range results {
		r.AltnameSubj, r.AltnameIssuer = nonNil(r.AltnameSubj), nonNil(r.AltnameIssuer)
		r.Reasons, r.Warnings = nonNil(r.Reasons), nonNil(r.Warnings)
		if r.Chain == nil {
			r.Chain = []PeerCert{}
		}
		out[i] = r
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Results []Result `json:"results"`
	}{out})
}

// WriteTable writes one row per connection, verdict first, the reason in
// words last; control characters in any cell are escaped (output.Escape). now is used for "expires in N days" (zero: time.Now()).
func WriteTable(w io.Writer, results []Result, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	// Replies and certificate names come from the peer: the table writer
	// escapes every cell (output.Escape), so none can act on the terminal
	// or forge a line.
	tw := output.NewTableWriter(w)
	tw.Row("VERDICT", "TARGET", "ADDR", "VERIFY", "TLS", "CIPHER", "BITS", "EXPIRES", "POLICY", "REASON")
	for _, r := range results {
		verdict := strings.ToUpper(r.Verdict)
		if r.Verdict == Pass && len(r.Warnings) > 0 {
			verdict = "PASS*"
		}
		target := r.Target
		if r.Rcpt != "" {
			target += " (" + r.Rcpt + ")"
		}
		bits := ""
		if r.CipherBits > 0 {
			bits = fmt.Sprint(r.CipherBits)
		}
		expires := ""
		if r.NotAfter != "" {
			if t, err := time.Parse(time.RFC3339, r.NotAfter); err == nil {
				days := int(t.Sub(now).Hours() / 24)
				if t.Before(now) {
					expires = t.Format("2006-01-02") + " (expired)"
				} else {
					expires = fmt.Sprintf("%s (%dd)", t.Format("2006-01-02"), days)
				}
			}
		}
		policy := r.PolicyKey
		if policy == "" && r.PolicyRule != "" {
			policy = "(" + r.PolicyRule + ")"
		} else if policy != "" {
			policy += " " + r.PolicyRule
		}
		tw.Row(verdict, target, dash(r.Addr), dash(r.Verify), dash(r.TLSVersion), dash(r.Cipher), dash(bits),
			dash(expires), dash(policy), reasonLine(r))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reasonLine is the one-line explanation of a row.
func reasonLine(r Result) string {
	switch {
	case r.Error != "":
		return "could not check: " + r.Error
	case r.Verdict == Fail:
		// The specific reasons, then the reply sendmail would give.
		var detail []string
		for _, s := range r.Reasons {
			if strings.HasPrefix(s, "no policy entry") || strings.HasSuffix(s, "verified") || strings.HasSuffix(r.Reply, " "+s) {
				continue
			}
			detail = append(detail, s)
		}
		out := strings.Join(detail, "; ")
		if r.Reply != "" {
			if out != "" {
				out += " → "
			}
			out += r.Reply
		}
		if out == "" && len(r.Reasons) > 0 {
			out = r.Reasons[len(r.Reasons)-1]
		}
		return out
	case len(r.Warnings) > 0:
		return "ok; warning: " + strings.Join(r.Warnings, "; ")
	}
	return "ok"
}
