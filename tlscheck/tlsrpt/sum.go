package tlsrpt

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/opsteam/ops/internal/output"
)

// Summary is the sum of reports: the JSON of `ops tlscheck report`.
type Summary struct {
	Reports  int         `json:"reports"`
	Policies []PolicySum `json:"policies"`
}

// PolicySum is the sessions of one (policy domain, policy type).
type PolicySum struct {
	PolicyDomain string       `json:"policy_domain"`
	PolicyType   string       `json:"policy_type"`
	Successful   int64        `json:"successful"`
	Failed       int64        `json:"failed"`
	Failures     []FailureSum `json:"failures"`
}

// FailureSum is the failed sessions of one result type, MX host and sending
// IP ("" where the reporters left it out).
type FailureSum struct {
	ResultType  string `json:"result_type"`
	ReceivingMX string `json:"receiving_mx_hostname"`
	SendingIP   string `json:"sending_mta_ip"`
	Count       int64  `json:"count"`
}

// Sum adds the reports up per (policy domain, policy type), and their
// failures per (result type, MX host, sending IP). A report met twice (the
// same organization and report-id, e.g. the .json.gz and the e-mail that
// carried it) counts once. Policies are sorted by domain then type,
// failures by count (largest first), then result type, MX and IP.
func Sum(reports []*Report) Summary {
	type pkey struct{ domain, typ string }
	type fkey struct{ rt, mx, ip string }
	pols := map[pkey]*PolicySum{}
	fails := map[pkey]map[fkey]int64{}
	seen := map[[2]string]bool{}
	s := Summary{Policies: []PolicySum{}}
	for _, r := range reports {
		if r.ReportID != "" {
			k := [2]string{strings.ToLower(r.OrganizationName), r.ReportID}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		s.Reports++
		for _, p := range r.Policies {
			k := pkey{p.Domain, p.Type}
			ps := pols[k]
			if ps == nil {
				ps = &PolicySum{PolicyDomain: p.Domain, PolicyType: p.Type}
				pols[k] = ps
				fails[k] = map[fkey]int64{}
			}
			ps.Successful = satAdd(ps.Successful, p.Successful)
			ps.Failed = satAdd(ps.Failed, p.Failed)
			for _, f := range p.Failures {
				fk := fkey{f.ResultType, f.ReceivingMX, f.SendingMTAIP}
				fails[k][fk] = satAdd(fails[k][fk], f.FailedSessions)
			}
		}
	}
	for k, ps := range pols {
		ps.Failures = []FailureSum{}
		for fk, n := range fails[k] {
			ps.Failures = append(ps.Failures, FailureSum{ResultType: fk.rt, ReceivingMX: fk.mx, SendingIP: fk.ip, Count: n})
		}
		slices.SortFunc(ps.Failures, func(a, b FailureSum) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.ResultType, b.ResultType),
				cmp.Compare(a.ReceivingMX, b.ReceivingMX), cmp.Compare(a.SendingIP, b.SendingIP))
		})
		s.Policies = append(s.Policies, *ps)
	}
	slices.SortFunc(s.Policies, func(a, b PolicySum) int {
		return cmp.Or(cmp.Compare(a.PolicyDomain, b.PolicyDomain), cmp.Compare(a.PolicyType, b.PolicyType))
	})
	return s
}

// satAdd adds counts without wrapping around (a hostile report could claim
// 2^63-1 sessions twice).
func satAdd(a, b int64) int64 {
	if a > 0 && b > 0 && a > (1<<63-1)-b {
		return 1<<63 - 1
	}
	return a + b
}

// WriteJSON writes the summary, indented.
func WriteJSON(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(s)
}

// WriteTable writes one line per (policy domain, policy type) and under it
// one line per failure: count, result type, MX host, sending IP ("-" where
// the reporters left it out). Every cell from a report is escaped
// (output.Escape): reports come from strangers.
func WriteTable(w io.Writer, s Summary) error {
	head := []string{"POLICY DOMAIN", "TYPE", "SUCCESSFUL", "FAILED", "FAILED %"}
	rows := make([][]string, len(s.Policies))
	var fails [][][]string
	pw := make([]int, len(head))
	fw := make([]int, 3)
	for c, h := range head {
		pw[c] = utf8.RuneCountInString(h)
	}
	for i, p := range s.Policies {
		rows[i] = []string{dash(output.Escape(p.PolicyDomain)), output.Escape(p.PolicyType),
			strconv.FormatInt(p.Successful, 10), strconv.FormatInt(p.Failed, 10), percent(p.Failed, p.Successful)}
		var fs [][]string
		for _, f := range p.Failures {
			cells := []string{strconv.FormatInt(f.Count, 10), output.Escape(f.ResultType),
				"mx " + dash(output.Escape(f.ReceivingMX)), "from " + dash(output.Escape(f.SendingIP))}
			for c := range fw {
				fw[c] = max(fw[c], utf8.RuneCountInString(cells[c]))
			}
			fs = append(fs, cells)
		}
		fails = append(fails, fs)
		for c := range pw {
			pw[c] = max(pw[c], utf8.RuneCountInString(rows[i][c]))
		}
	}
	var b strings.Builder
	line(&b, "", head, pw)
	for i, row := range rows {
		line(&b, "", row, pw)
		for _, f := range fails[i] {
			line(&b, "  └ ", f, fw)
		}
	}
	fmt.Fprintf(&b, "%d report(s)\n", s.Reports)
	_, err := io.WriteString(w, b.String())
	return err
}

// line writes cells padded to widths (the last cell unpadded).
func line(b *strings.Builder, prefix string, cells []string, widths []int) {
	b.WriteString(prefix)
	for c, cell := range cells {
		b.WriteString(cell)
		if c < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", widths[c]-utf8.RuneCountInString(cell)+2))
		}
	}
	b.WriteString("\n")
}

// percent is failed / (failed + successful) in percent, one decimal.
func percent(failed, successful int64) string {
	total := float64(failed) + float64(successful)
	if total <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(failed)*100/total, 'f', 1, 64)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
