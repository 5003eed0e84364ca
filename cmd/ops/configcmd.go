package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/opsteam/ops/internal/config"
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
		Short: `Print the effective configuration as YAML, every secret as "***", built-in defaults marked "# default"`,
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
	var doc yaml.Node
	if err := doc.Encode(rt.cfg); err != nil {
		return fmt.Errorf("rendering config: %w", err)
	}
	markDefaults(&doc, "", rt.loaded)
	enc := yaml.NewEncoder(rt.stdout)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("rendering config: %w", err)
	}
	return enc.Close()
}

// markDefaults comments every value that no file, variable or flag set:
// "# default". A list of plain values is one value.
func markDefaults(n *yaml.Node, path string, res *config.Result) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			markDefaults(c, path, res)
		}
	case yaml.MappingNode:
		given := false // a retention: with any keep_* set has no defaults (backup.Retention.ZeroUnset)
		for i := 0; i+1 < len(n.Content) && strings.HasSuffix(path, ".retention"); i += 2 {
			given = given || res.IsSet(path+"."+n.Content[i].Value)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			markDefaults(n.Content[i+1], p, res)
			if given && n.Content[i+1].LineComment != "" {
				n.Content[i+1].LineComment = "not set: 0, because another keep_* is set"
			}
		}
	case yaml.SequenceNode:
		if len(n.Content) > 0 && n.Content[0].Kind == yaml.MappingNode {
			for i, c := range n.Content {
				markDefaults(c, fmt.Sprintf("%s[%d]", path, i), res)
			}
			return
		}
		if !res.IsSet(path) {
			n.LineComment = "default"
		}
	case yaml.ScalarNode:
		if !res.IsSet(path) {
			n.LineComment = "default"
		}
	}
}
