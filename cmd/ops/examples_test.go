package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every command's --help has an Examples: section, and every example is a
// real invocation: the command exists and each of its flags is one the
// command accepts, with a value where the flag takes one.
func TestEveryCommandHasExamples(t *testing.T) {
	c := &cli{streams: newStreams(nil, nil)}
	root := newRootCmd(c)
	seen := 0
	walk(root, func(cmd *cobra.Command) {
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" || (cmd.Parent() != nil && cmd.Parent().Name() == "completion") {
			return
		}
		seen++
		if strings.TrimSpace(cmd.Example) == "" {
			t.Errorf("%s has no examples", cmd.CommandPath())
		}
		for _, line := range strings.Split(cmd.Example, "\n") {
			checkExample(t, root, line)
		}
	})
	if seen < 18 {
		t.Errorf("only %d commands checked", seen)
	}
	if _, ok := examples["ops nonesuch"]; ok {
		t.Error("examples of a command that does not exist")
	}
	for path := range examples {
		cmd, _, err := root.Find(strings.Fields(path)[1:])
		if err != nil || cmd.CommandPath() != path {
			t.Errorf("examples for %q, which is not a command", path)
		}
	}
}

func checkExample(t *testing.T, root *cobra.Command, line string) {
	t.Helper()
	line, _, _ = strings.Cut(line, "#")
	fields := strings.Fields(line)
	for len(fields) > 0 && strings.Contains(fields[0], "=") { // VAR=value ops ...
		fields = fields[1:]
	}
	if len(fields) == 0 || fields[0] != "ops" {
		t.Errorf("example %q does not run ops", line)
		return
	}
	cmd, args, err := root.Find(fields[1:])
	if err != nil {
		t.Errorf("example %q: %v", line, err)
		return
	}
	fs := cmd.Flags()
	fs.AddFlagSet(cmd.InheritedFlags())
	if err := fs.Parse(args); err != nil {
		t.Errorf("example %q: %v", line, err)
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			t.Errorf("example %q: %s not parsed as a flag", line, a)
		}
	}
	// Reset what the parse set: the next example starts from the defaults.
	fs.VisitAll(func(f *pflag.Flag) { f.Changed = false })
}

// Flags bound to config keys show the key's type, not "string".
func TestFlagTypesInHelp(t *testing.T) {
	_, out, _ := runOps(t, "tlscheck", "--help")
	for _, want := range []string{"--timeout duration", "--concurrency int", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("tlscheck --help lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runOps(t, "backup", "prune", "--help")
	if !strings.Contains(out, "--grace duration") || !strings.Contains(out, "--job NAME") {
		t.Errorf("backup prune --help:\n%s", out)
	}
	if code, _, stderr := runOps(t, "tlscheck", "--timeout", "soon", "mx.example.net"); code != 2 || !strings.Contains(stderr, "--timeout") {
		t.Errorf("a bad duration: %d %s", code, stderr)
	}
}
