// Package suggest finds the names closest to a mistyped one ("did you mean
// mysql_backups?"), for errors about a container, directory or key that does
// not exist.
//
// suggest is a leaf: it imports only the standard library.
package suggest
