// Package exitcode defines ops' documented exit statuses and the error
// classes that select them. Domain packages mark errors with Check or Usage;
// anything unmarked is a runtime failure. Only cmd/ops turns an error into a
// number (see Of).
//
// exitcode is a leaf: it imports only the standard library (no ops package,
// no viper, no cobra), so that every package can mark its errors.
package exitcode
