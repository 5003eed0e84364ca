// Package notify tells people that a job started, succeeded or failed: a
// webhook (JSON POST, healthchecks.io-style /start and /fail URLs) and
// e-mail (SMTP with STARTTLS, the certificate verified, through
// internal/smtpclient). Deliveries run in the background with retries and
// backoff: a notification never fails nor delays the job it reports on;
// a delivery that still fails is logged, with any secret of the URL
// redacted.
//
// notify imports only the standard library, internal/smtpclient and
// internal/fielderr: not backup, tlscheck, inventory, cmd, viper or cobra.
package notify
