package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by the linker: -X main.version=… -X main.commit=…
var (
	version = ""
	commit  = ""
)

// buildInfo returns the version, the commit and the Go version of this binary.
func buildInfo() (ver, rev, goVersion string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && rev != "" && rev == s.Value:
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, runtime.Version()
}

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		Annotations: map[string]string{
			noConfig: "true",
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, rev, g := buildInfo()
			_, err := fmt.Fprintf(c.rt.stdout, "ops %s\ncommit %s\n%s %s/%s\n", v, rev, g, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
