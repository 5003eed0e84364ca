// Package metrics holds ops' Prometheus metrics: one Set per process (a
// dedicated registry, never the global one), fed with one Run record per job
// run, served by `ops serve` on /metrics or written once by a one-shot
// command as a node_exporter textfile (see WriteTextfile).
//
// The metric names and labels are a contract (docs/cli.md); this package
// is the only place that spells them (metrics.go, and the collectors of
// binlog.go and tlsrpt.go).
//
// metrics imports the Prometheus client and internal/exitcode (to classify a
// run's error), nothing else of ops: not backup, tlscheck, inventory, cmd,
// internal/config or internal/schedule, nor viper or cobra.
package metrics
