// Package secret holds the type ops uses for passwords, keys and tokens.
//
// A Secret never prints its value: fmt verbs, JSON, YAML, text marshalling and
// slog all render it as "***" (or "" when it is empty, so that "not set" stays
// visible in `ops config show`). The only way to read the value is Reveal.
//
// secret is a leaf: it imports only the standard library (no ops package,
// no viper, no cobra), so that every config section can hold secrets.
package secret
