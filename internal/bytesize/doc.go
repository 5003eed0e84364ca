// Package bytesize parses and prints sizes such as "64MiB", "1.5GB" or "512k".
//
// bytesize is a leaf: it imports only the standard library (no ops package,
// no viper, no cobra).
package bytesize
