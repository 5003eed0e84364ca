package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check or show the effective configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (exit 0 when valid, 2 with FILE:LINE: message otherwise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// PersistentPreRunE has loaded and validated everything.
			src := a.loaded.File
			if src == "" {
				src = "no config file (built-in defaults and OPS_* variables)"
			}
			_, err := fmt.Fprintf(a.stdout, "ok: %s\n", src)
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: `Print the effective configuration as YAML, every secret as "***"`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc := yaml.NewEncoder(a.stdout)
			enc.SetIndent(2)
			if err := enc.Encode(a.cfg); err != nil {
				return fmt.Errorf("rendering config: %w", err)
			}
			return enc.Close()
		},
	})
	return cmd
}
