// Package schedule is the daemon behind `ops serve`: it runs jobs on cron
// schedules (robfig/cron v3), never two runs of one job at once (in this
// process or, through Locker, across processes), recovers panics, counts
// every run in a metrics.Set, reloads its job set on demand keeping the old
// one when the new one is broken, and stops gracefully. It knows nothing of
// backups, TLS checks or inventories: a Job is a kind, a name, a schedule and
// a Run function.
//
// schedule must not import backup, tlscheck, inventory, cmd or
// internal/config, nor viper or cobra: cmd/ops hands it the jobs. Of ops it
// uses only internal/exitcode, internal/metrics, internal/output and
// internal/secret (the bearer token of the HTTP endpoints).
package schedule
