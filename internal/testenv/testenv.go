// Package testenv gates integration tests.
//
// Integration tests run only when OPS_IT=1 (the README's test command sets
// it). When they run, a missing service is a failure, never a skip: call
// RequireIT first, then fail with t.Fatalf when a service cannot be reached.
package testenv

import (
	"os"
	"testing"
)

// IT reports whether integration tests are enabled.
func IT() bool { return os.Getenv("OPS_IT") == "1" }

// RequireIT skips the test unless OPS_IT=1.
func RequireIT(t testing.TB) {
	t.Helper()
	if !IT() {
		t.Skip("integration test: run with OPS_IT=1 (make test starts the services)")
	}
}

// Getenv returns the environment variable or def.
func Getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
