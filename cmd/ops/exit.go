package main

import (
	"context"
	"errors"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/inventory"
	"github.com/opsteam/ops/tlscheck"
)

// exitRule gives err an exit status when it matches.
type exitRule func(err error) (code int, ok bool)

// exitTable is the only place that turns an error into ops' documented exit
// status (cli.md: 0 ok, 1 a check found a problem, 2 usage or config error,
// 3 runtime failure, 130 interrupted). Domain packages return sentinel or
// typed errors; cmd/ops marks its own usage errors and found problems with
// exitcode.UsageError and exitcode.Check. The first matching rule decides;
// an error no rule matches is a runtime failure (3). One-shot commands,
// their --metrics-file and the scheduled runs of `ops serve` all use it.
var exitTable = []exitRule{
	is(schedule.ErrTimeout, exitcode.Runtime), // a run past its timeout (backup.jobs[].timeout) failed, whatever it returned
	exitcode.Marked, // cmd/ops' own marks (bad flags and config: 2; verify mismatch, drift: 1); the outermost wins
	is(tlscheck.ErrPolicyViolation, exitcode.CheckFailed), // a connection failed the TLS policy
	is(tlscheck.ErrLint, exitcode.CheckFailed),            // the policy has entries sendmail misreads
	is(tlscheck.ErrNoRelay, exitcode.CheckFailed),         // the client certificate may not relay
	is(tlscheck.ErrNothingChecked, exitcode.Runtime),      // no connection got far enough to be judged
	is(tlscheck.ErrPolicy, exitcode.Usage),                // an invalid policy file
	is(tlscheck.ErrConfig, exitcode.Usage),                // a policy or CA file that cannot be used
	is(inventory.ErrDeclared, exitcode.Usage),             // a declared inventory file that cannot be read or is invalid
	is(schedule.ErrInvalidJobs, exitcode.Usage),           // a job set that cannot be scheduled
	is(restore.ErrTargetExists, exitcode.Usage),           // restore onto an existing non-empty database without --replace
	is(pitr.ErrNotRecoverable, exitcode.Usage),            // --until* before the oldest backup, in a gap, after the archive's end
	is(backup.ErrUnauthenticated, exitcode.Usage),         // no manifest key here and no --trust-unauthenticated-manifest
	is(pitr.ErrBinlogGap, exitcode.CheckFailed),           // the archiver met binary logs purged before they were archived
	is(context.Canceled, exitcode.Interrupted),            // SIGINT/SIGTERM
}

func is(target error, code int) exitRule {
	return func(err error) (int, bool) { return code, errors.Is(err, target) }
}

// exitCode maps an error to its exit status with exitTable (nil is 0).
func exitCode(err error) int {
	if err == nil {
		return exitcode.OK
	}
	for _, rule := range exitTable {
		if code, ok := rule(err); ok {
			return code
		}
	}
	return exitcode.Runtime
}

// exitStatus is the status of a whole command line: exitCode, except that a
// runtime failure before any command ran (started false: cobra's unknown
// command or bad arguments) is a usage error, and one after ctx was
// cancelled (SIGINT/SIGTERM) is an interruption.
func exitStatus(ctx context.Context, err error, started bool) int {
	code := exitCode(err)
	if code != exitcode.Runtime || err == nil {
		return code
	}
	switch {
	case !started:
		return exitcode.Usage
	case ctx.Err() != nil:
		return exitcode.Interrupted
	}
	return code
}
