package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newConfigCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check or show the effective configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (exit 0 when valid, 2 with FILE:LINE: message otherwise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigCheck(cmd.Context(), c.rt)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: `Print the effective configuration as YAML, every secret as "***"`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigShow(cmd.Context(), c.rt)
		},
	})
	return cmd
}

// runConfigCheck reports where the configuration came from; loading the
// runtime (PersistentPreRunE) has validated everything.
func runConfigCheck(_ context.Context, rt *opsRuntime) error {
	src := rt.loaded.File
	if src == "" {
		src = "no config file (built-in defaults and OPS_* variables)"
	}
	_, err := fmt.Fprintf(rt.stdout, "ok: %s\n", src)
	return err
}

func runConfigShow(_ context.Context, rt *opsRuntime) error {
	enc := yaml.NewEncoder(rt.stdout)
	enc.SetIndent(2)
	if err := enc.Encode(rt.cfg); err != nil {
		return fmt.Errorf("rendering config: %w", err)
	}
	return enc.Close()
}
