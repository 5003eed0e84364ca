// Package progress shows the progress of long work: a one-line bar on a
// terminal (bytes, rate, ETA when the total is known), nothing otherwise —
// under cron the caller logs one structured line per phase instead.
//
// progress imports only the standard library and internal/bytesize: not
// backup, tlscheck, inventory, cmd, internal/config, viper or cobra.
package progress
