// Command ops backs up MySQL/MariaDB to Swift or a local directory, checks
// SMTP STARTTLS peers against a sendmail-style policy, and reports
// hypervisor and firewall inventory. See README.md and `ops --help`.
//
// This package only wires: it loads the config into one immutable runtime
// per load (runtime.go), builds the cobra command tree (root.go, one file
// per command group, each command body a runX(ctx, rt, opts) function),
// and maps errors to exit codes in one table (exit.go). Each backup
// subcommand has its own file, backup_<name>.go (backup_restore_pitr.go is
// restore's --until part); backup.go holds the group and what the
// subcommands share (job selection, stores, manifest trust). The domain packages
// (backup, tlscheck, inventory) know nothing of cobra or viper.
package main
