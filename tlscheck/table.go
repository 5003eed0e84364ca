package tlscheck

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsteam/ops/internal/output"
)

// TableWidth is the width WriteTable keeps to.
const TableWidth = 120

// WriteTable writes one line per connection (verdict first) and, unless the
// verdict is a plain pass, the reason in words on the lines after it,
// indented and wrapped: no line is wider than TableWidth columns (a cell too
// long for its column is shortened with "…"; JSON and WriteDetail carry it
// whole). The reason names every warning that decided the verdict. Cells
// come from the peer: every one is escaped (output.Escape), so none can act
// on the terminal or forge a line. now is used for "expires in N days"
// (zero: time.Now()). EXPIRES is the days left ("expired" after), DANE is
// shown when some result has a DANE outcome.
func WriteTable(w io.Writer, results []Result, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	header := []string{"VERDICT", "TARGET", "ADDR", "VERIFY", "TLS", "BITS", "EXPIRES", "DANE", "POLICY"}
	// Widest a column may be; POLICY gets what is left.
	limit := []int{7, 30, 22, 8, 3, 4, 7, 8, 0}
	rows := make([][]string, len(results))
	dane := false
	for i, r := range results {
		rows[i] = tableCells(r, now)
		dane = dane || r.DANE != ""
	}
	if !dane { // no DANE lookups: no DANE column
		const col = 7
		header = append(header[:col:col], header[col+1:]...)
		limit = append(limit[:col:col], limit[col+1:]...)
		for i, row := range rows {
			rows[i] = append(row[:col:col], row[col+1:]...)
		}
	}
	widths := make([]int, len(header))
	for c := range header {
		widths[c] = width(header[c])
		for _, row := range rows {
			widths[c] = max(widths[c], width(row[c]))
		}
		if limit[c] > 0 {
			widths[c] = min(widths[c], limit[c])
		}
	}
	used := 0
	for c := 0; c < len(header)-1; c++ {
		used += widths[c] + 2
	}
	widths[len(header)-1] = max(TableWidth-used, 12)
	var b strings.Builder
	writeRow(&b, header, widths)
	for i, r := range results {
		writeRow(&b, rows[i], widths)
		reason := reasonLine(r)
		if r.MTASTSMode != "" { // enforce or testing decides what a failure means
			reason += " (MTA-STS " + r.MTASTSMode + ")"
		}
		if r.Rcpt != "" {
			reason = "MX for " + r.Rcpt + ": " + reason
		}
		if reason != "ok" {
			for j, l := range wrap(output.Escape(reason), TableWidth-4) {
				if j == 0 {
					b.WriteString("  └ " + l + "\n")
				} else {
					b.WriteString("    " + l + "\n")
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tableCells are the escaped cells of one result's line.
func tableCells(r Result, now time.Time) []string {
	verdict := strings.ToUpper(r.Verdict)
	if r.Verdict == Pass && len(r.Warnings) > 0 {
		verdict = "PASS*"
	}
	target := r.Target // the recipient is on the reason line
	bits := ""
	if r.CipherBits > 0 {
		bits = fmt.Sprint(r.CipherBits)
	}
	expires := ""
	if t, err := time.Parse(time.RFC3339, r.NotAfter); err == nil {
		if t.Before(now) {
			expires = "expired"
		} else {
			expires = fmt.Sprintf("%dd", int(t.Sub(now).Hours()/24))
		}
	}
	policy := r.PolicyKey
	if policy == "" && r.PolicyRule != "" {
		policy = "(" + r.PolicyRule + ")"
	} else if policy != "" {
		policy += " " + r.PolicyRule
	}
	cells := []string{verdict, target, dash(r.Addr), dash(r.Verify), dash(strings.TrimPrefix(r.TLSVersion, "TLSv")), dash(bits),
		dash(expires), dash(r.DANE), dash(policy)}
	for i, c := range cells {
		cells[i] = output.Escape(c)
	}
	return cells
}

func width(s string) int { return utf8.RuneCountInString(s) }

// writeRow writes cells padded to widths, shortening a cell that does not
// fit with "…"; the last cell is not padded.
func writeRow(b *strings.Builder, cells []string, widths []int) {
	for i, c := range cells {
		c = shorten(c, widths[i])
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", widths[i]-width(c)+2))
		}
	}
	b.WriteString("\n")
}

// shorten cuts s to n runes, the last one "…", when it is longer.
func shorten(s string, n int) string {
	if width(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// wrap splits s into lines of at most n runes, at spaces where it can.
func wrap(s string, n int) []string {
	var out []string
	for width(s) > n {
		r := []rune(s)
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		s = strings.TrimLeft(string(r[cut:]), " ")
	}
	return append(out, s)
}
