package main

import "github.com/spf13/cobra"

func newBackupCmd(a *app) *cobra.Command {
	return &cobra.Command{Use: "backup", Short: "Back up, list, restore, verify and prune MySQL/MariaDB backups",
		RunE: func(*cobra.Command, []string) error { return notBuilt("backup") }}
}

func newTLSCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{Use: "tlscheck", Short: "Check SMTP STARTTLS peers against a sendmail-style TLS policy",
		RunE: func(*cobra.Command, []string) error { return notBuilt("tlscheck") }}
}

func newInventoryCmd(a *app) *cobra.Command {
	return &cobra.Command{Use: "inventory", Short: "Report hypervisor hosts, VMs and firewalls",
		RunE: func(*cobra.Command, []string) error { return notBuilt("inventory") }}
}

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "Run every scheduled job, with /metrics and /healthz",
		RunE: func(*cobra.Command, []string) error { return notBuilt("serve") }}
}
