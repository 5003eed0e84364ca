// Package backends opens the store of a configured storage target. It is the
// one place that knows every backend; the pipeline and cmd only see
// Store.
//
// It imports storage and its backend packages (local, swift, retry); it must
// not import the backup pipeline or the MySQL engine.
package backends
