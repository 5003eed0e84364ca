// Package tlscheck probes SMTP servers' STARTTLS (and implicit TLS) and judges
// what it finds the way sendmail's access-map TLS policy would — TLS_Srv:,
// TLS_Rcpt:, Try_TLS:, CertIssuer:/CertSubject: with VERIFY[:bits], ENCR:bits,
// PERM+/TEMP+, CN, CS:, CI:, CITag: — plus ops extensions: CA / CA:name
// (RFC 9525 subjectAltName matching with public-suffix-safe wildcards) and
// CertIssuer:<dn> ALTNAMES:key with SubjAltName:key:value RELAY. Postfix
// smtp_tls_policy_maps text is accepted as a second policy format.
//
// The parts:
//
//	ParsePolicy / LoadPolicy   policy text → *Policy (format auto-detected)
//	Lint                       entries sendmail silently misreads → []Finding
//	ProbeAddr / Probe          one SMTP conversation → *Facts (no judgement); the
//	                           ClientHello is OpenSSL's (hello.go, uTLS) so that the
//	                           negotiated cipher is the one sendmail gets
//	Evaluate                   Facts + Policy + EvalOptions (clock) → Result; pure
//	EvaluateClient             the same for an incoming client (TLS_Clt:)
//	Check                      targets and recipients (MX, MTA-STS) → []Result,
//	                           bounded concurrency, one timeout per connection
//	LookupTLSA / EvaluateDANE  TLSA through a validating resolver (AD bit) →
//	                           DANE pass | fail | none | insecure (RFC 7672), and on
//	                           a pass the rollover outlook: safe | at-risk (RFC 7671 §8.1);
//	                           where TLSA records validate, DANE decides over MTA-STS
//	Suggest                    per peer, the strictest sendmail or Postfix line it
//	                           passes today, each evaluated back through Evaluate
//	Relay                      client certificate + Policy → RelayResult
//	WriteTable / WriteJSON     rendering ({"results": [...]}, docs/cli.md);
//	WriteDetail                the -v view (key exchange, key, fingerprints, chain)
//	STSCache                   MTA-STS policies kept until max_age (a state directory)
//	RunError                   nil all pass, ErrPolicyViolation any fail,
//	                           ErrNothingChecked nothing checked
//
// TLSRPT (RFC 8460) reports are read and summed by the subpackage tlsrpt.
//
// Sendmail's ${verify}, ${cert_subject}/${cert_issuer} (OpenSSL oneline +
// xtext), ${cn_subject}/${cn_issuer} and ${cipher_bits} are computed as
// sendmail 8.17 does (docs: tlscheck-spec §1); replies use 8.17's default
// codes (454 4.7.0) unless EvalOptions say otherwise.
//
// tlscheck must not import backup, inventory, cmd, internal/config or
// internal/exitcode, nor viper or cobra: cmd/ops loads the Config and maps
// its sentinel errors to exit codes. Of ops it uses only internal/fielderr
// and internal/output (its tables escape what peers send).
package tlscheck
