package testenv

import (
	"fmt"
	"os"
	"testing"
)

// enabled reads OPS_IT: "" (integration tests off) or "1" (on). Anything
// else is a mistake (OPS_IT=true once skipped every integration test
// silently), reported as an error.
func enabled() (bool, error) {
	switch v := os.Getenv("OPS_IT"); v {
	case "":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("OPS_IT=%q: expected 1 (run the integration tests) or unset/empty (skip them)", v)
	}
}

// IT reports whether integration tests are enabled (OPS_IT=1). Any value of
// OPS_IT other than empty or "1" fails t.
func IT(t testing.TB) bool {
	t.Helper()
	on, err := enabled()
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// RequireIT skips the test unless OPS_IT=1. Any value of OPS_IT other than
// empty or "1" fails the test instead of skipping it.
func RequireIT(t testing.TB) {
	t.Helper()
	if !IT(t) {
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
