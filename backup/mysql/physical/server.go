package physical

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // the throw-away server's connection
)

// DefaultMariadbd is the server started on a restored data directory.
const DefaultMariadbd = "mariadbd"

// Scratch is a throw-away stock mariadbd on a restored data directory: no
// network (--skip-networking), its socket in a directory of its own, no
// grant tables (nothing but this process can reach it), no binary log.
type Scratch struct {
	DB     *sql.DB
	Socket string
	cmd    *exec.Cmd
	exited chan error
	log    string
}

// StartScratch starts mariadbd on datadir with its socket, pid file and
// log in runDir (which exists and is empty), as the mysql user when run as
// root, and waits until it answers or exits.
func StartScratch(ctx context.Context, logger *slog.Logger, mariadbd, datadir, runDir string) (*Scratch, error) {
	if mariadbd == "" {
		mariadbd = DefaultMariadbd
	}
	if os.Geteuid() == 0 {
		if err := chownTo(runDir, "mysql"); err != nil {
			return nil, err
		}
	}
	sock, logFile := filepath.Join(runDir, "mysqld.sock"), filepath.Join(runDir, "error.log")
	args := []string{"--no-defaults", "--datadir=" + datadir, "--socket=" + sock, "--skip-networking", "--skip-grant-tables",
		"--pid-file=" + filepath.Join(runDir, "mysqld.pid"), "--log-error=" + logFile, "--innodb-buffer-pool-size=64M"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=mysql")
	}
	cmd := exec.Command(mariadbd, args...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", mariadbd, err)
	}
	s := &Scratch{Socket: sock, cmd: cmd, exited: make(chan error, 1), log: logFile}
	go func() { s.exited <- cmd.Wait() }()
	db, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		s.kill()
		return nil, err
	}
	s.DB = db
	orDiscard(logger).Info("started a throw-away mariadbd on the restored data directory", "datadir", datadir, "socket", sock)
	for {
		select {
		case err := <-s.exited:
			s.exited <- err
			return nil, fmt.Errorf("mariadbd --datadir=%s exited before it answered (%v): %s", datadir, err, s.logTail())
		case <-ctx.Done():
			s.kill()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if db.PingContext(ctx) == nil {
			return s, nil
		}
	}
}

// Stop shuts the server down cleanly (SHUTDOWN) and waits for it.
func (s *Scratch) Stop() error {
	_, err := s.DB.Exec("SHUTDOWN")
	s.DB.Close()
	if err != nil {
		s.kill()
		return fmt.Errorf("shutting the throw-away mariadbd down: %w", err)
	}
	if err := <-s.exited; err != nil {
		return fmt.Errorf("the throw-away mariadbd after SHUTDOWN: %w: %s", err, s.logTail())
	}
	return nil
}

func (s *Scratch) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *Scratch) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func chownTo(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("running as root, the throw-away server runs as %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

// TableCheck is CHECK TABLE and COUNT(*) of one table of a restored server.
type TableCheck struct {
	Database, Table string
	Rows            int64
	// Status is CHECK TABLE's last Msg_text ("OK" for a sound table).
	Status string
}

// systemSchemas are not checked by CheckTables.
var systemSchemas = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

// CheckTables runs CHECK TABLE on every base table outside the system
// databases and counts its rows.
func CheckTables(ctx context.Context, db *sql.DB) ([]TableCheck, error) {
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2")
	if err != nil {
		return nil, fmt.Errorf("listing the restored tables: %w", err)
	}
	var out []TableCheck
	for rows.Next() {
		var c TableCheck
		if err := rows.Scan(&c.Database, &c.Table); err != nil {
			rows.Close()
			return nil, err
		}
		if !systemSchemas[c.Database] {
			out = append(out, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		c := &out[i]
		q := quoteIdent(c.Database) + "." + quoteIdent(c.Table)
		if err := lastMsg(ctx, db, "CHECK TABLE "+q, &c.Status); err != nil {
			return nil, fmt.Errorf("CHECK TABLE %s: %w", q, err)
		}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(&c.Rows); err != nil {
			c.Status = "COUNT(*) failed: " + err.Error()
		}
	}
	return out, nil
}

// lastMsg runs CHECK TABLE and keeps the Msg_text of its last row.
func lastMsg(ctx context.Context, db *sql.DB, q string, msg *string) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, op, typ, text string
		if err := rows.Scan(&table, &op, &typ, &text); err != nil {
			return err
		}
		*msg, n = text, n+1
	}
	if n == 0 {
		return errors.New("no result")
	}
	return rows.Err()
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
