// Package exitcode defines ops' documented exit statuses, and a mark that
// lets cmd/ops give its own errors (bad flags, a found problem) a status.
// Domain packages never import it: they return sentinel or typed errors,
// and cmd/ops' exit table (cmd/ops/exit.go) is the only place that maps an
// error to a number.
//
// exitcode is a leaf: it imports only the standard library (no ops package,
// no viper, no cobra).
package exitcode
