// Package mem is an in-memory storage.Store for tests of what sits on top of
// storage (the backup pipeline) and for the conformance suite. It honours the
// Store contract exactly: a Put becomes visible only when its reader ended
// without error, and it can inject faults (a failing Put, Open, List or
// Delete) to show how callers react.
//
// It imports only storage; it must not import the pipeline or the engine.
package mem
