package tlscheck

import (
	"encoding/json"
	"io"
	"strings"
)

// WriteJSON writes {"results": [...]} (docs/cli.md), indented.
func WriteJSON(w io.Writer, results []Result) error {
	out := make([]Result, len(results))
	for i, r := range results {
		r.AltnameSubj, r.AltnameIssuer = nonNil(r.AltnameSubj), nonNil(r.AltnameIssuer)
		r.Reasons, r.Warnings, r.DANERecords = nonNil(r.Reasons), nonNil(r.Warnings), nonNil(r.DANERecords)
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
			if strings.HasPrefix(s, "no policy entry") || strings.HasSuffix(s, "verified") || strings.HasSuffix(r.Reply, " "+s) ||
				strings.HasPrefix(s, "DANE pass: ") || strings.HasPrefix(s, "DANE none: no TLSA records") { // did not decide a failure
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
