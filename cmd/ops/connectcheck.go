package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/backends"
	"github.com/opsteam/ops/internal/notify"
	"github.com/opsteam/ops/internal/output"
)

// connectChecks is config check --connect: it logs in to each job's MySQL
// account(s), each Swift or local target a job uses and each inventory
// source, and calls add once per problem (the key path it is about, and
// what is wrong). What is fine is printed on stdout.
func (rt *opsRuntime) connectChecks(ctx context.Context, add func(path, msg string)) {
	targets := map[string]int{} // target name → first job index using it
	for i := range rt.cfg.Backup.Jobs {
		j := &rt.cfg.Backup.Jobs[i]
		path := fmt.Sprintf("backup.jobs[%d]", i)
		if _, seen := targets[j.Target]; !seen {
			targets[j.Target] = i
		}
		g, err := backup.CheckAccount(ctx, j.MySQL)
		if err != nil {
			add(path+".mysql", err.Error())
		} else {
			problems, mode := backup.BackupGrantProblems(j, g)
			for _, p := range problems {
				add(path+".mysql", p)
			}
			if len(problems) == 0 {
				fmt.Fprintf(rt.stdout, "ok: job %s: mysql %s, backups use a %s\n", j.Name, output.Escape(g.User), mode)
			}
		}
		if j.IsPhysical() { // restored into a data directory: no restore account
			msg, problems := backup.PhysicalToolProblems(ctx, j)
			for _, p := range problems {
				add(path+".physical.binary", p)
			}
			if len(problems) == 0 {
				fmt.Fprintf(rt.stdout, "ok: job %s: %s\n", j.Name, output.Escape(msg))
			}
			continue
		}
		rt.checkRestoreAccount(ctx, j, path, g, add)
	}
	for _, name := range sortedKeys(rt.cfg.Storage.Targets) {
		i, used := targets[name]
		if !used {
			continue
		}
		rt.checkTarget(ctx, name, rt.cfg.Backup.Jobs[i], add)
	}
	rt.checkEmail(ctx, add)
	if len(rt.cfg.Inventory.Sources) > 0 {
		rep, err := rt.collectInventory(ctx, nil)
		if rep == nil && err != nil {
			add("inventory.sources", err.Error())
			return
		}
		for i, s := range rep.Sources {
			if !s.OK {
				add(fmt.Sprintf("inventory.sources[%d]", i), "source "+s.Name+": "+s.Error)
				continue
			}
			fmt.Fprintf(rt.stdout, "ok: inventory source %s (%s)\n", s.Name, s.Type)
		}
	}
}

// checkRestoreAccount checks the grants of the account restore and verify
// --restore-test log in with: restore_mysql when the job has one, else the
// backup account (backupGrants, nil when it could not log in), whose
// missing grants then say both fixes: the GRANT, or a restore_mysql.
func (rt *opsRuntime) checkRestoreAccount(ctx context.Context, j *backup.Job, path string, backupGrants *backup.Grants, add func(path, msg string)) {
	if !j.HasRestoreAccount() {
		if backupGrants == nil {
			return // the login failure is said already
		}
		problems := backup.RestoreGrantProblems(j, backupGrants)
		for _, p := range problems {
			add(path+".mysql", p+noRestoreAccountHint)
		}
		if len(problems) == 0 {
			fmt.Fprintf(rt.stdout, "ok: job %s: restores run as mysql %s too (no restore_mysql)\n", j.Name, output.Escape(backupGrants.User))
		}
		return
	}
	g, err := backup.CheckAccount(ctx, j.RestoreConn())
	if err != nil {
		add(path+".restore_mysql", err.Error())
		return
	}
	problems := backup.RestoreGrantProblems(j, g)
	for _, p := range problems {
		add(path+".restore_mysql", p)
	}
	if len(problems) == 0 {
		fmt.Fprintf(rt.stdout, "ok: job %s: restore_mysql %s\n", j.Name, output.Escape(g.User))
	}
}

// noRestoreAccountHint ends each restore grant the backup account lacks
// when the job has no restore_mysql.
const noRestoreAccountHint = " (no restore_mysql: restore and verify --restore-test run as this account; run the GRANT, or set restore_mysql to an account that has it)"

// connectCheckRetryBudget caps storage.retry_budget for config check --connect.
const connectCheckRetryBudget = 10 * time.Second

// checkTarget opens a storage target read-only and lists the job's part of
// it. A missing container or directory is fine (the first backup run
// creates it) unless an existing one has a close name: then it is probably
// a typo.
func (rt *opsRuntime) checkTarget(ctx context.Context, name string, job backup.Job, add func(path, msg string)) {
	path := "storage.targets." + name
	// A check answers within seconds: a target that stays unreachable is
	// reported, not waited for as long as a backup would.
	budget := min(rt.retryBudget(name), connectCheckRetryBudget)
	store, err := backends.OpenReadOnly(ctx, name, rt.cfg.Storage.Targets[name], rt.log, budget)
	var me *storage.MissingError
	switch {
	case errors.As(err, &me) && len(me.Suggestions) == 0:
		fmt.Fprintf(rt.stdout, "ok: storage target %s: %s %s does not exist yet (the first backup run creates it)\n", name, me.Kind, output.Escape(me.Name))
		return
	case err != nil:
		add(path, strings.TrimPrefix(err.Error(), "storage target "+name+": "))
		return
	}
	objs, err := store.List(ctx, job.Prefix+job.Name+"/")
	if err != nil {
		add(path, err.Error())
		return
	}
	fmt.Fprintf(rt.stdout, "ok: storage target %s: %s, %d objects of job %s\n", name, output.Escape(store.String()), len(objs), job.Name)
}

// checkEmail negotiates STARTTLS (certificate verified) with each SMTP
// server a notify.email section names; nothing is sent.
func (rt *opsRuntime) checkEmail(ctx context.Context, add func(path, msg string)) {
	seen := map[string]bool{}
	check := func(path string, e notify.Email) {
		key := e.SMTP + " " + e.CAFile
		if len(e.To) == 0 || seen[key] {
			return
		}
		seen[key] = true
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		helo, _ := os.Hostname()
		if err := notify.CheckEmail(cctx, e, helo); err != nil {
			add(path, err.Error())
			return
		}
		fmt.Fprintf(rt.stdout, "ok: notify e-mail: %s offers STARTTLS with a verified certificate\n", output.Escape(e.SMTP))
	}
	check("notify.email", rt.cfg.Notify.Email)
	for i, j := range rt.cfg.Backup.Jobs {
		check(fmt.Sprintf("backup.jobs[%d].notify.email", i), notify.Merge(rt.cfg.Notify, j.Notify).Email)
	}
}
