package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/tlscheck"
)

// The one exit table: every error class of the domain packages and of
// cmd/ops gets its documented status.
func TestExitTable(t *testing.T) {
	base := errors.New("boom")
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "access")
	if err := os.WriteFile(badPolicy, []byte("TLS_Srv:example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	options := func(policy, ca string) error {
		c := tlscheck.DefaultConfig()
		c.Policy, c.CAFile = policy, ca
		_, err := c.Options()
		return err
	}
	_, loadErr := tlscheck.LoadPolicy(filepath.Join(dir, "missing"))
	_, parseErr := tlscheck.ParsePolicy("access", strings.NewReader("TLS_Srv:example.com\n"))
	unchecked := tlscheck.Evaluate(&tlscheck.Facts{Target: "mx.example.com", ServerName: "mx.example.com",
		Err: errors.New("connect: connection refused")}, nil, tlscheck.EvalOptions{})
	_, badSchedule := schedule.PlanJobs([]schedule.Job{{Kind: metrics.KindBackup, Name: "app", Schedule: "@every 0s",
		Run: func(context.Context) (metrics.Result, error) { return metrics.Result{}, nil }}}, time.Now(), 1, nil)
	cases := []struct {
		name string
		err  error
		want int
	}{
		// cmd/ops' own marks, and what the exit table does with anything else
		{"nil", nil, 0},
		{"unclassified", base, 3},
		{"connection refused", errors.New("connection refused"), 3},
		{"check mark", exitcode.Check(base), 1},
		{"wrapped check mark", fmt.Errorf("wrapped: %w", exitcode.Check(base)), 1},
		{"drift", exitcode.Check(errors.New("drift")), 1},
		{"verify mismatch", fmt.Errorf("job: %w", exitcode.Check(errors.New("verify mismatch"))), 1},
		{"usage mark", exitcode.UsageError(base), 2},
		{"bad key", exitcode.UsageError(errors.New("bad key")), 2},
		{"marked nil", exitcode.WithCode(nil, 1), 0},
		{"cancelled", context.Canceled, 130},
		{"wrapped cancellation", fmt.Errorf("ctx: %w", context.Canceled), 130},
		{"a mark beats cancellation", exitcode.UsageError(fmt.Errorf("x: %w", context.Canceled)), 2},
		// tlscheck
		{"no results", tlscheck.RunError(nil), 3},
		{"nothing checked", tlscheck.RunError([]tlscheck.Result{unchecked}), 3},
		{"failed verdict", fmt.Errorf("%w: 1 of 2 connections failed (mx)", tlscheck.ErrPolicyViolation), 1},
		{"lint findings", tlscheck.LintError([]tlscheck.Finding{{}}), 1},
		{"no lint findings", tlscheck.LintError(nil), 0},
		{"no relay", tlscheck.RelayError(tlscheck.RelayResult{}), 1},
		{"relay", tlscheck.RelayError(tlscheck.RelayResult{Relay: true}), 0},
		{"invalid policy", parseErr, 2},
		{"unreadable policy", loadErr, 2},
		{"bad policy in the config", options(badPolicy, ""), 2},
		{"missing policy in the config", options(filepath.Join(dir, "missing"), ""), 2},
		{"missing CA file", options("", filepath.Join(dir, "missing.pem")), 2},
		// schedule
		{"bad schedule", badSchedule, 2},
		{"bad schedule, wrapped", fmt.Errorf("reload: %w", badSchedule), 2},
		{"lint findings, wrapped", fmt.Errorf("serve: %w", tlscheck.LintError([]tlscheck.Finding{{}})), 1},
		{"timed out", &schedule.TimeoutError{Timeout: time.Hour, Err: context.DeadlineExceeded}, 3},
		{"timed out, returned nothing", fmt.Errorf("backup app: %w", &schedule.TimeoutError{Timeout: time.Hour}), 3},
		{"timed out with a found problem", &schedule.TimeoutError{Timeout: time.Hour, Err: exitcode.Check(base)}, 3},
		{"timed out while cancelled", &schedule.TimeoutError{Timeout: time.Hour, Err: context.Canceled}, 3},
		// backup
		{"binlog gap", &pitr.GapError{Job: "app", Gaps: []pitr.BinlogGap{{}}}, 1},
		{"lock wait", fmt.Errorf("restore: %w: waited", conn.ErrLockWaitTimeout), 3},
	}
	for _, tc := range cases {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

// A command line's status: cobra's own errors (before any command ran) are
// usage errors, and a failure after SIGINT/SIGTERM is an interruption.
func TestExitStatus(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	base := errors.New("boom")
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		started bool
		want    int
	}{
		{"ok", live, nil, true, 0},
		{"failure", live, base, true, 3},
		{"unknown command", live, base, false, 2},
		{"failure after SIGTERM", cancelled, base, true, 130},
		{"found problem after SIGTERM", cancelled, exitcode.Check(base), true, 1},
		{"policy violation after SIGTERM", cancelled, fmt.Errorf("%w: x", tlscheck.ErrPolicyViolation), true, 1},
		{"nothing checked after SIGTERM", cancelled, tlscheck.ErrNothingChecked, true, 130},
	} {
		if got := exitStatus(tc.ctx, tc.err, tc.started); got != tc.want {
			t.Errorf("%s: exitStatus = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// tlscheck's documented statuses, end to end through run: 1 when a
// verdict is fail, 3 when nothing could be checked, 1 for lint findings and
// NO RELAY, 2 for an invalid or missing policy.
func TestTLSCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	misread := write("misread", "TLS_Srv:typo.example.com VERIFIED\n")
	invalid := write("invalid", "TLS_Srv:example.com\n")
	good := write("good", "TLS_Srv:example.com VERIFY\n")

	smtp := newHeldSMTP(t)
	defer smtp.close()
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		done <- run(context.Background(), []string{"--config", cfg, "tlscheck", "--timeout", "20s", smtp.ln.Addr().String()}, &syncBuffer{}, &stderr)
	}()
	close(smtp.next(t, "tlscheck").release) // no STARTTLS offered: the verdict is fail
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("tlscheck of a server without STARTTLS: exit %d, want 1 (%s)", code, stderr.String())
		}
	case <-time.After(reloadWait):
		t.Fatal("tlscheck did not finish")
	}

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"tlscheck", "--timeout", "20s", freeAddr(t)}, 3}, // connection refused: nothing checked
		{[]string{"tlscheck", "lint", "--policy", misread}, 1},
		{[]string{"tlscheck", "lint", "--policy", invalid}, 2},
		{[]string{"tlscheck", "lint", "--policy", filepath.Join(dir, "missing")}, 2},
		{[]string{"tlscheck", "--policy", invalid, "127.0.0.1:1"}, 2},
		{[]string{"tlscheck", "relay", "--policy", good, "--cert", filepath.Join(dir, "missing.pem")}, 2},
		{[]string{"tlscheck", "relay", "--cert", filepath.Join(dir, "missing.pem")}, 2},
	} {
		code, _, stderr := runOps(t, append([]string{"--config", cfg}, tc.args...)...)
		if code != tc.want {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.want, stderr)
		}
	}
}

// Every problem of a policy file is exit 2 with FILE:LINE: message, a line
// over the reader's limit included (it was exit 3, "token too long").
func TestTLSCheckPolicyFileErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "")
	for _, tc := range []struct {
		name, body string
		line       int
		msg        string
	}{
		{"line over the reader's limit", "TLS_Srv:example.com VERIFY\nTLS_Srv:x " + strings.Repeat("a", tlscheck.MaxLineBytes) + "\n", 2,
			fmt.Sprintf("line longer than %d bytes", tlscheck.MaxLineBytes)},
		{"line over makemap's limit", "# a comment\nTLS_Srv:example.com VERIFY:" + strings.Repeat("1", 1100) + "\n", 2,
			"line of 1127 bytes: makemap reads at most 1022"},
		{"no right-hand side", "TLS_Srv:example.com VERIFY\n\nTLS_Srv:b.example\n", 3, `key "TLS_Srv:b.example" has no right-hand side`},
		{"leading blank", "TLS_Srv:example.com VERIFY\n TLS_Srv:b.example VERIFY\n", 2, "line starts with a blank"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%s:%d: %s", p, tc.line, tc.msg)
			for _, args := range [][]string{{"tlscheck", "lint", "--policy", p}, {"tlscheck", "--policy", p, "127.0.0.1:1"}} {
				code, _, stderr := runOps(t, append([]string{"--config", cfg}, args...)...)
				if code != 2 || !strings.Contains(stderr, want) {
					t.Errorf("%v: exit %d, stderr %.300q; want 2 and %q", args[:2], code, stderr, want)
				}
			}
		})
	}
}
