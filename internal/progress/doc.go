// Package progress shows the progress of long work: a one-line bar on a
// terminal (amount done against a known or estimated total, percentage,
// throughput, ETA, what is being worked on; a summary line at the end),
// nothing otherwise — under cron the caller logs one structured line per
// phase instead. A Terminal shares stderr between the logger and the bar:
// a log line clears the bar, is written, and the bar is drawn again below.
//
// progress imports only the standard library and internal/bytesize: not
// backup, tlscheck, inventory, cmd, internal/config, viper or cobra.
package progress
