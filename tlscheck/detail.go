package tlscheck

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/output"
)

// WriteDetail writes one block per connection with everything the table
// leaves out (the -v view): session (protocol, cipher, key exchange),
// certificate (key, signature, fingerprints, OCSP staple), the chain as
// presented, names, DANE and MTA-STS, the policy entry, reasons and
// warnings. Every value a peer chose is escaped (output.Escape).
func WriteDetail(w io.Writer, results []Result, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n")
		}
		detailBlock(&b, r, now)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func detailBlock(b *strings.Builder, r Result, now time.Time) {
	line := func(format string, args ...any) {
		b.WriteString(output.Escape(fmt.Sprintf(format, args...)) + "\n")
	}
	head := r.Target
	if r.Addr != "" {
		head += " [" + r.Addr + "]"
	}
	if r.Rcpt != "" {
		head += " for " + r.Rcpt
	}
	line("%s %s", strings.ToUpper(r.Verdict), head)
	if r.Error != "" {
		line("  error:          %s", r.Error)
	}
	if r.Verify != "" {
		line("  verify:         %s", r.Verify)
	}
	if r.TLSVersion != "" {
		line("  session:        %s %s, %d bits, key exchange %s", r.TLSVersion, r.Cipher, r.CipherBits, dash(r.KeyExchange))
	}
	if r.CertSHA256 != "" {
		staple := "no"
		if r.OCSPStapled {
			staple = "yes"
		}
		line("  key:            %s %d bits, certificate signed with %s, OCSP staple: %s", r.KeyType, r.KeyBits, r.SigAlg, staple)
		line("  cert sha256:    %s", r.CertSHA256)
		line("  spki sha256:    %s", r.SPKISHA256)
	}
	if r.CNSubject != "" || len(r.AltnameSubj) > 0 {
		line("  names:          CN=%s %s", r.CNSubject, strings.Join(r.AltnameSubj, " "))
	}
	for i, c := range r.Chain {
		left := ""
		if t, err := time.Parse(time.RFC3339, c.NotAfter); err == nil {
			left = fmt.Sprintf(" (%dd)", int(t.Sub(now).Hours()/24))
			if t.Before(now) {
				left = " (expired)"
			}
		}
		line("  chain[%d]:       %s", i, c.Subject)
		line("                  issuer %s, until %s%s", c.Issuer, c.NotAfter, left)
		line("                  %s %d, %s, sha256 %s", c.KeyType, c.KeyBits, c.SigAlg, c.SHA256)
	}
	if r.DANE != "" {
		line("  dane:           %s", r.DANE)
		for _, rec := range r.DANERecords {
			line("                  TLSA %s", rec)
		}
	}
	if r.STS != nil {
		line("  mta-sts:        %s mode %s, mx allowed %v %s", r.STS.Domain, dash(r.STS.Mode), r.STS.MXAllowed, r.STS.Error)
	}
	if r.PolicyKey != "" || r.PolicyRule != "" {
		at := ""
		if r.PolicyLine > 0 {
			at = fmt.Sprintf(" (line %d)", r.PolicyLine)
		}
		line("  policy:         %s %s%s", dash(r.PolicyKey), r.PolicyRule, at)
	}
	if r.Reply != "" {
		line("  reply:          %s", r.Reply)
	}
	for _, s := range r.Reasons {
		line("  reason:         %s", s)
	}
	for _, s := range r.Warnings {
		line("  warning:        %s", s)
	}
}
