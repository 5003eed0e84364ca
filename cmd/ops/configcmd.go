package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/config"
	"github.com/opsteam/ops/internal/exitcode"
)

func newConfigCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check or show the effective configuration",
	}
	var connect bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and the files it names; --connect also logs in to every server",
		Long: `Validate the configuration: exit 2 with FILE:LINE: message for a value that is
invalid. Then check that every *_file key (password_file, key_file, ca_file,
identity_file, ...) names a readable file: one line per problem, exit 1.

With --connect, also log in to everything the configuration names:
  - each job's MySQL account, and the privileges it lacks for the job (one
    GRANT statement per missing privilege; see README "Least privilege"),
    and the restore_mysql account's for restore and verify --restore-test;
  - each Swift target used by a job: authenticate and list its container
    (a missing container with a similar name is reported as a likely typo);
  - each inventory source (a full collection);
  - each notify e-mail server: STARTTLS with the certificate verified (no
    mail is sent; webhooks are not called, they would record a ping).
One line per problem, exit 1; nothing is written anywhere.

Exit status: 0 ok, 1 a problem was found, 2 invalid configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigCheck(cmd.Context(), c.rt, connect)
		},
	}
	check.Flags().BoolVar(&connect, "connect", false, "also log in to every MySQL server, Swift target and inventory source, and check the MySQL grants")
	cmd.AddCommand(check)
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

// runConfigCheck reports where the configuration came from (loading the
// runtime has validated it), then the files it names and, with connect,
// what logging in to each server finds.
func runConfigCheck(ctx context.Context, rt *opsRuntime, connect bool) error {
	src := rt.loaded.File
	if src == "" {
		src = "no config file (built-in defaults and OPS_* variables)"
	}
	var problems config.Errors
	add := func(path, msg string) {
		problems = append(problems, &config.Error{Where: rt.loaded.Where(path), Msg: path + ": " + msg})
	}
	for _, p := range config.FileProblems(rt.cfg) {
		add(p.Path, fmt.Sprintf("cannot read %s: %v", p.File, unwrapPathError(p.Err)))
	}
	if d := rt.cfg.TLSCheck.ReportDir; d != "" {
		if err := readableDir(d); err != nil {
			add("tlscheck.report_dir", fmt.Sprintf("cannot read %s: %v", d, unwrapPathError(err)))
		}
	}
	rt.manifestKeyWarnings()
	if connect {
		rt.connectChecks(ctx, add)
	}
	if len(problems) > 0 {
		return exitcode.Check(problems)
	}
	_, err := fmt.Fprintf(rt.stdout, "ok: %s\n", src)
	return err
}

// manifestKeyWarnings warns about every job whose manifests would go
// unauthenticated: no manifest_key_file, and no default key file that ops
// could create.
func (rt *opsRuntime) manifestKeyWarnings() {
	jobs, err := rt.jobs(nil)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if msg, warn := j.KeyStatus(); warn {
			rt.log.Warn("job "+j.Name+": "+msg, "job", j.Name)
		}
	}
}

// readableDir reports why dir cannot be listed (nil: it can), reading one
// entry only.
func readableDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadDir(1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func runConfigShow(_ context.Context, rt *opsRuntime) error {
	cfg := *rt.cfg
	cfg.Storage.Targets = maps.Clone(cfg.Storage.Targets)
	for name, t := range cfg.Storage.Targets {
		t.RetryBudget = rt.retryBudget(name) // the effective one
		cfg.Storage.Targets[name] = t
	}
	var doc yaml.Node
	if err := doc.Encode(&cfg); err != nil {
		return fmt.Errorf("rendering config: %w", err)
	}
	markDefaults(&doc, "", rt.loaded)
	showTargetBudgets(&doc, cfg.Storage.Targets, rt.loaded)
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
		n.Style |= yaml.FlowStyle // [a, b]: one line, and the comment stays on it
		if !res.IsSet(path) {
			n.LineComment = "default"
		}
	case yaml.ScalarNode:
		if !res.IsSet(path) {
			n.LineComment = "default"
		}
	}
}

// showTargetBudgets shows a target's retry_budget only where it applies
// (Swift and S3; a local target does not retry), and says where an inherited one
// comes from.
func showTargetBudgets(doc *yaml.Node, targets map[string]storage.Target, res *config.Result) {
	tn := yamlPath(doc, "storage", "targets")
	for i := 0; tn != nil && i+1 < len(tn.Content); i += 2 {
		name, t := tn.Content[i].Value, tn.Content[i+1]
		for j := 0; j+1 < len(t.Content); j += 2 {
			if t.Content[j].Value != "retry_budget" {
				continue
			}
			switch {
			case targets[name].Type != "swift" && targets[name].Type != "s3":
				t.Content = append(t.Content[:j:j], t.Content[j+2:]...)
			case !res.IsSet("storage.targets." + name + ".retry_budget"):
				t.Content[j+1].LineComment = "storage.retry_budget"
			}
		}
	}
}

// yamlPath is the value node at keys under a document's mapping, or nil.
func yamlPath(n *yaml.Node, keys ...string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, k := range keys {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
