// Package archtest holds only a test: the import rules between ops'
// packages (the ones each package's doc.go states), checked with `go list`
// so that a forbidden import fails `go test ./...`.
package archtest
