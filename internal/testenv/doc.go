// Package testenv gates integration tests.
//
// Integration tests run only when OPS_IT=1 (the README's test command sets
// it); OPS_IT unset or empty skips them, and any other value (OPS_IT=true)
// fails them rather than skipping silently. When they run, a missing service
// is a failure, never a skip: call RequireIT first, then fail with t.Fatalf
// when a service cannot be reached.
//
// testenv is imported by tests only. It must not import any ops package
// (backup, tlscheck, inventory, cmd, internal/*) nor viper or cobra.
package testenv
