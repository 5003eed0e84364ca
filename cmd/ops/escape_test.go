package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/internal/exitcode"
)

// hostile retitles the terminal (OSC 0 ... BEL) and clears it (CSI 2J).
const hostile = "\x1b]0;pwned\x07\x1b[2J"

func rawControl(s string) rune {
	for _, r := range s {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return r
		}
	}
	return -1
}

// `ops backup list`: database names come from the server; one with
// terminal escapes or a newline stays in its cell, escaped.
func TestBackupListTableEscapesNames(t *testing.T) {
	list := []*catalog.BackupInfo{
		{Job: "app", ID: "20261128T020000Z", StartedAt: time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC), Complete: true,
			Size: 1 << 20, Databases: []string{"shop", hostile, "a\nb"}, Compression: "zstd"},
		{Job: "app", ID: "20261127T020000Z", StartedAt: time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC), Complete: true,
			Size: 1 << 20, Databases: []string{"shop"}, Compression: "zstd"},
	}
	var b bytes.Buffer
	if err := writeBackupTable(&b, list); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if r := rawControl(out); r >= 0 {
		t.Errorf("raw %U in:\n%q", r, out)
	}
	if strings.Count(out, "\n") != 3 || !strings.Contains(out, `shop,\x1b]0;pwned\x07\x1b[2J,a\nb`) {
		t.Errorf("table:\n%s", out)
	}
}

// The final error line quotes what a server said: escaped, with a line
// break only between joined errors (a server's newline is \n), each line
// starting "ops: ".
func TestErrorLineEscapesServerText(t *testing.T) {
	fault := fmt.Errorf("ServerFaultCode: %s\nops: forged line", hostile)
	policy := errors.Join(errors.New("p:1: key \"a\" has no right-hand side"), errors.New("p:2: line starts with a blank"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.Join(errors.New("inventory incomplete"), fmt.Errorf("source vc: %w", fault)),
			"ops: inventory incomplete\nops: source vc: ServerFaultCode: \\x1b]0;pwned\\x07\\x1b[2J\\nops: forged line\n"},
		{fmt.Errorf("%w: %w", errors.New("invalid policy"), policy),
			"ops: invalid policy: p:1: key \"a\" has no right-hand side\nops: p:2: line starts with a blank\n"},
		{exitcode.Check(fmt.Errorf("check: %w", fault)),
			"ops: check: ServerFaultCode: \\x1b]0;pwned\\x07\\x1b[2J\\nops: forged line\n"},
	} {
		var stderr bytes.Buffer
		c := &cli{streams: newStreams(&bytes.Buffer{}, &stderr), started: true}
		printError(c, tc.err, exitcode.Runtime)
		out := stderr.String()
		if r := rawControl(out); r >= 0 {
			t.Errorf("raw %U in %q", r, out)
		}
		if out != tc.want {
			t.Errorf("stderr %q\nwant   %q", out, tc.want)
		}
	}
}
