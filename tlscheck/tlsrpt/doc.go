// Package tlsrpt reads SMTP TLS Reporting (RFC 8460) aggregate reports — the
// daily JSON that Google, Microsoft and other senders mail to the rua= address
// of a domain's _smtp._tls TXT record — and sums them.
//
//	Decode / ReadFile   a report as JSON, gzip'd JSON or an e-mail carrying an
//	                    application/tlsrpt+gzip or +json part → []*Report
//	Sum                 reports → sessions per (policy domain, policy type) and
//	                    failures per result type, MX host and sending IP
//	WriteTable / WriteJSON   rendering (docs/cli.md, third wave)
//
// It is tolerant of what real reporters leave out or shape differently
// (Microsoft omits sending-mta-ip and receiving-mx-hostname, Postfix'
// tlsrpt-reporter omits policy-domain for no-policy-found, contact-info may
// be null, mx-host may be a string or a list, failure-details may be missing)
// and strict on what cannot be a report: every such error wraps ErrMalformed
// and says where and what was expected.
//
// tlsrpt imports only the standard library and internal/output.
package tlsrpt
