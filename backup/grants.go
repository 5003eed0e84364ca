package backup

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/opsteam/ops/backup/mysql/conn"
)

// The least privileges of each use of an account (README "Least
// privilege"). Where MariaDB and MySQL name a privilege differently, any
// one of the alternatives (separated by "|") is enough.
var (
	// BackupSchemaPrivileges are needed on every database a job backs up.
	BackupSchemaPrivileges = []string{"SELECT", "SHOW VIEW", "TRIGGER", "EVENT"}
	// BackupLockPrivilege makes the dump take FLUSH TABLES WITH READ LOCK
	// (lock mode); without it the dump takes a lock-free snapshot.
	BackupLockPrivilege = "RELOAD"
	// BinlogPositionPrivilege lets the dump record the binary log position
	// (and the archiver read the server's logs).
	BinlogPositionPrivilege = "BINLOG MONITOR|REPLICATION CLIENT|SUPER"
	// BinlogPrivileges are needed by binlog archiving (binlog.enabled).
	BinlogPrivileges = []string{"REPLICATION SLAVE", BinlogPositionPrivilege}
	// RestoreSchemaPrivileges are needed on every database a restore
	// creates (and, for verify --restore-test, on ops_verify_%). ALTER adds
	// the secondary indexes after the data.
	RestoreSchemaPrivileges = []string{"CREATE", "DROP", "INSERT", "ALTER", "CREATE VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "TRIGGER", "EVENT"}
	// RestoreDefinerPrivilege lets a restore recreate views, routines,
	// triggers and events with their original DEFINER.
	RestoreDefinerPrivilege = "SET USER|SET_USER_ID|SET_ANY_DEFINER|SUPER"
	// ReplaySchemaPrivileges are needed besides RestoreSchemaPrivileges on
	// every database restore --until replays (the row changes of the log;
	// the target's name when it differs is not known before the restore).
	ReplaySchemaPrivileges = []string{"SELECT", "UPDATE", "DELETE", "INDEX"}
	// ReplayPrivilege lets the replay run mariadb-binlog's BINLOG statements.
	ReplayPrivilege = "BINLOG REPLAY|BINLOG_ADMIN|SUPER"
)

// RestoreTestPattern is the name pattern (SQL LIKE, as in a GRANT) of the
// scratch databases of verify --restore-test.
const RestoreTestPattern = `ops\_verify\_%`

// Grants are the privileges of one account, as information_schema lists
// them for the current user.
type Grants struct {
	User   string              // CURRENT_USER()
	global map[string]bool     // ON *.*
	schema map[string][]string // privilege → database patterns (LIKE)
	tables map[string]bool     // "db.table privilege"
}

// ReadGrants reads the privileges the current account holds directly
// (not through roles) from information_schema.
func ReadGrants(ctx context.Context, db *sql.DB) (*Grants, error) {
	g := &Grants{global: map[string]bool{}, schema: map[string][]string{}, tables: map[string]bool{}}
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&g.User); err != nil {
		return nil, fmt.Errorf("reading the current user: %w", err)
	}
	user, host, _ := strings.Cut(g.User, "@")
	grantee := "'" + user + "'@'" + host + "'"
	rows := func(q string, fn func(s []sql.NullString)) error {
		r, err := db.QueryContext(ctx, q, grantee)
		if err != nil {
			return fmt.Errorf("reading the grants of %s: %w", g.User, err)
		}
		defer r.Close()
		cols, _ := r.Columns()
		for r.Next() {
			s := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(s))
			for i := range s {
				ptrs[i] = &s[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				return err
			}
			fn(s)
		}
		return r.Err()
	}
	err := rows("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?", func(s []sql.NullString) {
		g.global[s[0].String] = true
	})
	if err == nil {
		err = rows("SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?", func(s []sql.NullString) {
			g.schema[s[1].String] = append(g.schema[s[1].String], s[0].String)
		})
	}
	if err == nil {
		err = rows("SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?", func(s []sql.NullString) {
			g.tables[s[0].String+"."+s[1].String+" "+s[2].String] = true
		})
	}
	return g, err
}

// Global reports whether the account holds one of the alternatives of
// priv ("A|B") on *.*.
func (g *Grants) Global(priv string) bool {
	return slices.ContainsFunc(strings.Split(priv, "|"), func(p string) bool { return g.global[p] })
}

// OnDatabase reports whether the account holds priv on database name (a
// global grant, or a database grant whose pattern matches name).
func (g *Grants) OnDatabase(priv, name string) bool {
	if g.Global(priv) {
		return true
	}
	for _, pat := range g.schema[priv] {
		if likeMatch(pat, name) {
			return true
		}
	}
	return false
}

// OnTable reports whether the account holds priv on db.table (or on db, or
// globally).
func (g *Grants) OnTable(priv, db, table string) bool {
	return g.OnDatabase(priv, db) || g.tables[db+"."+table+" "+priv]
}

// likeMatch matches name against a GRANT database pattern (% and _
// wildcards, \ escapes).
func likeMatch(pattern, name string) bool {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\' && i+1 < len(pattern):
			i++
			re.WriteString(regexp.QuoteMeta(string(pattern[i])))
		case c == '%':
			re.WriteString(".*")
		case c == '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	ok, _ := regexp.MatchString(re.String(), name)
	return ok
}

// grantLine is a missing privilege as the GRANT statement that adds it.
func grantLine(user, privs, on string) string {
	u, h, _ := strings.Cut(user, "@")
	return fmt.Sprintf("GRANT %s ON %s TO '%s'@'%s'", privs, on, u, h)
}

// BackupGrantProblems says what the job's backup account lacks, one line
// per missing grant, and which consistency mode the dump will use.
func BackupGrantProblems(j *Job, g *Grants) (problems []string, mode string) {
	if j.IsPhysical() {
		return physicalGrantProblems(j, g), "mariadb-backup (physical)"
	}
	dbs := j.Databases
	on := func(d string) string { return "`" + strings.ReplaceAll(d, "`", "``") + "`.*" }
	if len(dbs) == 0 {
		dbs, on = []string{""}, func(string) string { return "*.*" }
	}
	for _, d := range dbs {
		var miss []string
		for _, p := range BackupSchemaPrivileges {
			if (d == "" && !g.Global(p)) || (d != "" && !g.OnDatabase(p, d)) {
				miss = append(miss, p)
			}
		}
		if len(miss) > 0 {
			problems = append(problems, "backup needs "+grantLine(g.User, strings.Join(miss, ", "), on(d)))
		}
	}
	if !g.OnTable("SELECT", "mysql", "proc") && !g.Global("SHOW CREATE ROUTINE") {
		problems = append(problems, "backup needs "+grantLine(g.User, "SELECT", "mysql.proc")+
			" (MySQL 8: SHOW_ROUTINE ON *.*): without it stored procedures and functions are left out of the dump")
	}
	mode = "lock-free snapshot (no RELOAD)"
	if g.Global(BackupLockPrivilege) {
		mode = "lock (FLUSH TABLES WITH READ LOCK)"
	}
	if j.Binlog.Enabled && !g.Global(BinlogPositionPrivilege) {
		problems = append(problems, "binlog archiving needs "+grantLine(g.User, "BINLOG MONITOR", "*.*")+
			" (MySQL: REPLICATION CLIENT), also for the backup to record its binary log position")
	}
	if j.Binlog.Enabled && !g.Global("REPLICATION SLAVE") {
		problems = append(problems, "binlog archiving needs "+grantLine(g.User, "REPLICATION SLAVE", "*.*"))
	}
	return problems, mode
}

// RestoreGrantProblems says what the restore account (restore_mysql)
// lacks for restoring the job's databases under their own names and for
// verify --restore-test.
func RestoreGrantProblems(j *Job, g *Grants) []string {
	var problems []string
	check := func(what, pattern, sample string, extra ...string) {
		var miss []string
		for _, p := range append(slices.Clone(RestoreSchemaPrivileges), extra...) {
			if !g.OnDatabase(p, sample) {
				miss = append(miss, p)
			}
		}
		if len(miss) > 0 {
			problems = append(problems, what+" needs "+grantLine(g.User, strings.Join(miss, ", "), pattern))
		}
	}
	if len(j.Databases) == 0 {
		check("restore", "*.*", "any_database")
	}
	for _, d := range j.Databases {
		check("restore", "`"+strings.ReplaceAll(d, "`", "``")+"`.*", d)
	}
	check("verify --restore-test", "`"+RestoreTestPattern+"`.*", "ops_verify_00000000_db", "SELECT") // and restore --until's ledger
	if j.Binlog.Enabled {
		// restore --until replays row changes (UPDATE, DELETE) with BINLOG
		// statements (BINLOG REPLAY).
		for _, d := range j.Databases {
			var miss []string
			for _, p := range ReplaySchemaPrivileges {
				if !g.OnDatabase(p, d) {
					miss = append(miss, p)
				}
			}
			if len(miss) > 0 {
				problems = append(problems, "restore --until needs "+grantLine(g.User, strings.Join(miss, ", "), "`"+strings.ReplaceAll(d, "`", "``")+"`.*"))
			}
		}
		if !g.Global(ReplayPrivilege) {
			problems = append(problems, "restore --until needs "+grantLine(g.User, "BINLOG REPLAY", "*.*")+
				" (MySQL: BINLOG_ADMIN or SUPER) for the BINLOG statements of the replay")
		}
	}
	if !g.Global(RestoreDefinerPrivilege) {
		problems = append(problems, "restore needs "+grantLine(g.User, "SET USER", "*.*")+
			" (MySQL: SET_USER_ID or SET_ANY_DEFINER) to recreate views, routines, triggers and events with their DEFINER")
	}
	return problems
}

// CheckAccount connects with m and returns the account's grants.
func CheckAccount(ctx context.Context, m conn.Config) (*Grants, error) {
	db, err := conn.Connect(ctx, m, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return ReadGrants(ctx, db)
}
