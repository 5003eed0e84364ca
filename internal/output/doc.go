// Package output renders command results: aligned tables for people,
// indented JSON for programs. Results go to stdout; logs never do.
//
// output is a leaf: it imports only the standard library (no ops package,
// no viper, no cobra).
package output
