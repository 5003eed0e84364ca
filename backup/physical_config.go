package backup

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/internal/fielderr"
)

// The backup methods of a job.
const (
	MethodLogical  = catalog.MethodLogical
	MethodPhysical = catalog.MethodPhysical
)

// DefaultFullEvery is physical.full_every when the config sets none.
const DefaultFullEvery = 7

// PhysicalConfig is a job's `physical:` section (method: physical).
type PhysicalConfig struct {
	// Incremental: later runs back up the pages changed since the previous
	// backup of the chain.
	Incremental bool `yaml:"incremental"`
	// FullEvery bounds a chain: one full, then at most FullEvery-1
	// incrementals.
	FullEvery int `yaml:"full_every"`
	// Binary is mariadb-backup; its version must match the server's.
	Binary string `yaml:"binary"`
	// SlaveInfo passes --slave-info: on a replica, the backup records the
	// primary's position it had replicated up to (the restored data
	// directory's mariadb_backup_slave_info or xtrabackup_slave_info, which
	// restore prints), to start a new replica from the backup.
	SlaveInfo bool `yaml:"slave_info"`
	// ForceFull makes the next run a full backup (`ops backup run --full`;
	// not a config key).
	ForceFull bool `yaml:"-"`
}

// IsPhysical reports whether the job backs up with mariadb-backup.
func (j *Job) IsPhysical() bool { return j.Method == MethodPhysical }

// validateMethod checks method and physical: a physical job backs up the
// whole server, so databases and exclude_tables are errors with it.
func (j *Job) validateMethod(path string) error {
	switch j.Method {
	case "", MethodLogical:
		return nil
	case MethodPhysical:
	default:
		return fielderr.Newf(path+".method", "%q: expected logical or physical", j.Method)
	}
	if len(j.Databases) > 0 {
		return fielderr.New(path+".databases", "a physical backup copies the whole server: databases cannot be chosen (remove databases, or use method: logical)")
	}
	if len(j.ExcludeTables) > 0 {
		return fielderr.New(path+".exclude_tables", "a physical backup copies the whole server: tables cannot be excluded (remove exclude_tables, or use method: logical)")
	}
	if j.Physical.FullEvery < 1 {
		return fielderr.Newf(path+".physical.full_every", "%d: expected 1 or more (backups per chain, the full one included)", j.Physical.FullEvery)
	}
	if j.Physical.Binary == "" {
		return fielderr.New(path+".physical.binary", "empty: expected mariadb-backup or its path")
	}
	return nil
}

// PhysicalPrivileges are what a physical job needs of its account:
// mariadb-backup's (MariaDB's documentation: RELOAD and LOCK TABLES for the
// backup locks, PROCESS to see the server's threads, BINLOG MONITOR for
// the binary log position) and SELECT, for ops to count (and with
// checksums digest) every table at the backup's point. physical.slave_info
// adds SlaveInfoPrivilege.
var PhysicalPrivileges = []string{"RELOAD", "PROCESS", "LOCK TABLES", BinlogPositionPrivilege, "SELECT"}

// SlaveInfoPrivilege is what --slave-info needs (SHOW SLAVE STATUS); REPLICA
// MONITOR is its other name.
const SlaveInfoPrivilege = "SLAVE MONITOR|REPLICA MONITOR|SUPER"

// physicalGrantProblems says what a physical job's account lacks.
func physicalGrantProblems(j *Job, g *Grants) []string {
	var miss []string
	privs := PhysicalPrivileges
	if j.Physical.SlaveInfo {
		privs = append(privs[:len(privs):len(privs)], SlaveInfoPrivilege)
	}
	for _, p := range privs {
		if !g.Global(p) {
			miss = append(miss, strings.SplitN(p, "|", 2)[0])
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return []string{"physical backup needs " + grantLine(g.User, strings.Join(miss, ", "), "*.*")}
}

// PhysicalToolProblems is config check --connect for a physical job: the
// job's mariadb-backup exists and is the server's release, and the
// server's datadir is readable here (mariadb-backup copies it).
func PhysicalToolProblems(ctx context.Context, j *Job) (ok string, problems []string) {
	srv, err := physical.Facts(ctx, j.MySQL, nil)
	if err != nil {
		return "", []string{err.Error()}
	}
	tool, err := physical.ToolVersion(ctx, j.Physical.Binary)
	if err != nil {
		problems = append(problems, err.Error())
	} else if err := physical.CheckVersion(tool, srv.Version); err != nil {
		problems = append(problems, err.Error())
	}
	if err := unix.Access(srv.Datadir, unix.R_OK|unix.X_OK); err != nil {
		problems = append(problems, fmt.Sprintf("the server's datadir %s is not readable here (%v): a physical backup runs on the database host as a user that can read it", srv.Datadir, err))
	}
	return fmt.Sprintf("mariadb-backup %s matches the server (%s), datadir %s readable", tool, srv.Version, srv.Datadir), problems
}
