package physical

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
)

// DefaultBinary is mariadb-backup's name when the job sets none.
const DefaultBinary = "mariadb-backup"

// Options configure one physical backup.
type Options struct {
	MySQL  conn.Config
	Binary string // mariadb-backup (looked up in PATH) when empty
	// IncrementalLSN, when not 0, makes the backup an incremental one
	// holding the pages changed since this LSN (its base's to_lsn).
	IncrementalLSN uint64
	Logger         *slog.Logger
	// Planned, when set, is called once before the copy with the size of
	// the server's datadir; Progress with the stream bytes written so far.
	Planned  func(datadirBytes int64)
	Progress func(streamBytes int64)
	// SlaveInfo passes --slave-info (a replica's position on its primary,
	// ReplicaInfo of the restored directory).
	SlaveInfo bool
	// Snapshot, when > 0, asks for that many sessions in read-only
	// consistent snapshots at the backup's point (Result.Snapshot; see
	// snapshot.go for how the point is proven).
	Snapshot int
}

// Server is what identifies the server a chain was taken from: a backup
// whose server differs from its base's must be a full one.
type Server struct {
	Version  string
	ServerID uint64
	Datadir  string
}

// Result describes a backup mariadb-backup wrote.
type Result struct {
	Info
	Server Server
	// StreamBytes is the size of the xbstream (before compression).
	StreamBytes int64
	// SnapshotAt is the server's clock once mariadb-backup ended: the copy
	// is consistent at a point before it (a point-in-time restore to a
	// later time may start from it). Databases are the server's databases
	// then, system ones left out.
	SnapshotAt time.Time
	Databases  []string
	// Snapshot holds Options.Snapshot sessions that see the server as the
	// backup does (the caller closes it); nil when none was asked for or
	// none could be proven to be at the backup's point, NoSnapshot then
	// says why.
	Snapshot   *Snapshot
	NoSnapshot string
	// NoBinlog is set when that is because the server has no binary log
	// (a lasting state of the server, not a failure).
	NoBinlog bool
}

// Facts reads the server's version, server_id and datadir.
func Facts(ctx context.Context, m conn.Config, logger *slog.Logger) (Server, error) {
	db, err := conn.Connect(ctx, m, logger)
	if err != nil {
		return Server{}, err
	}
	defer db.Close()
	var s Server
	if err := db.QueryRowContext(ctx, "SELECT @@version, @@server_id, @@datadir").Scan(&s.Version, &s.ServerID, &s.Datadir); err != nil {
		return Server{}, fmt.Errorf("reading the server's version, server_id and datadir: %w", err)
	}
	return s, nil
}

// ToolVersion runs BINARY --version and returns the server release it is
// built from.
func ToolVersion(ctx context.Context, binary string) (string, error) {
	out, err := exec.CommandContext(ctx, binaryOr(binary), "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("running %s --version: %w: %s", binaryOr(binary), err, strings.TrimSpace(string(out)))
	}
	return ParseToolVersion(string(out))
}

func binaryOr(b string) string {
	if b == "" {
		return DefaultBinary
	}
	return b
}

// Backup checks that mariadb-backup matches the server, runs
// `mariadb-backup --backup --stream=xbstream` and copies its standard
// output to w. The credentials go to mariadb-backup in a defaults file
// (mode 0600, removed when it ends), never in its arguments.
func Backup(ctx context.Context, o Options, w io.Writer) (*Result, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv, err := Facts(ctx, o.MySQL, logger)
	if err != nil {
		return nil, err
	}
	tool, err := ToolVersion(ctx, o.Binary)
	if err != nil {
		return nil, err
	}
	if err := CheckVersion(tool, srv.Version); err != nil {
		return nil, err
	}
	if st, err := os.Stat(srv.Datadir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("the server's datadir %s cannot be read here (a physical backup runs on the database host, as a user that can read the datadir): %w", srv.Datadir, errOr(err, "not a directory"))
	}
	tmp, err := os.MkdirTemp("", "ops-physical-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	defaults, err := writeDefaults(tmp, o.MySQL, logger)
	if err != nil {
		return nil, err
	}
	lsnDir := filepath.Join(tmp, "lsn")
	args := []string{"--defaults-file=" + defaults, "--backup", "--stream=xbstream",
		"--datadir=" + srv.Datadir, "--target-dir=" + filepath.Join(tmp, "target"), "--extra-lsndir=" + lsnDir}
	if o.IncrementalLSN > 0 {
		args = append(args, "--incremental-lsn="+strconv.FormatUint(o.IncrementalLSN, 10))
	}
	if o.SlaveInfo {
		args = append(args, "--slave-info")
	}
	if o.Planned != nil {
		o.Planned(dirSize(srv.Datadir))
	}
	var snap *snapshotter
	var noSnap string
	if o.Snapshot > 0 {
		if snap, noSnap, err = newSnapshotter(ctx, o.MySQL, logger, o.Snapshot); err != nil {
			return nil, err
		}
	}
	var watch io.Writer = io.Discard
	if snap != nil {
		watch = snap
	}
	cw := &countWriter{w: w, fn: o.Progress}
	err = run(ctx, logger, o.Binary, args, nil, cw, watch)
	var info Info
	if err == nil {
		info, err = ReadInfo(lsnDir)
	}
	if err == nil && o.IncrementalLSN > 0 && info.FromLSN != o.IncrementalLSN {
		err = fmt.Errorf("mariadb-backup wrote an incremental from LSN %d, asked for %d", info.FromLSN, o.IncrementalLSN)
	}
	res := &Result{Info: info, Server: srv, StreamBytes: cw.n, NoSnapshot: noSnap, NoBinlog: noSnap != ""}
	if snap != nil {
		res.Snapshot, res.NoSnapshot = snap.result(info.Binlog)
	}
	if err == nil {
		res.SnapshotAt, res.Databases, err = after(ctx, o.MySQL, logger)
	}
	if err != nil {
		res.Snapshot.Close()
		return nil, err
	}
	return res, nil
}

// after reads the server's clock and its databases once the copy ended.
func after(ctx context.Context, m conn.Config, logger *slog.Logger) (time.Time, []string, error) {
	db, err := conn.Connect(ctx, m, logger)
	if err != nil {
		return time.Time{}, nil, err
	}
	defer db.Close()
	var now string
	if err := db.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&now); err != nil {
		return time.Time{}, nil, fmt.Errorf("reading the server's clock after the backup: %w", err)
	}
	at, err := parseUnix(now)
	if err != nil {
		return time.Time{}, nil, err
	}
	rows, err := db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("listing the server's databases: %w", err)
	}
	defer rows.Close()
	dbs := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return time.Time{}, nil, err
		}
		if !systemSchemas[name] {
			dbs = append(dbs, name)
		}
	}
	return at, dbs, rows.Err()
}

// parseUnix reads UNIX_TIMESTAMP(NOW(6)) ("1765130000.123456").
func parseUnix(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("the server's clock %q: %w", s, err)
	}
	var ns int64
	if frac != "" {
		ns, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	}
	return time.Unix(n, ns).UTC(), nil
}

var notCopied = regexp.MustCompile(`\.[0-9]{6}$|\.index$|^ibtmp1$`)

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// writeDefaults writes the connection settings to dir/client.cnf (0600).
func writeDefaults(dir string, m conn.Config, logger *slog.Logger) (string, error) {
	r, err := conn.Resolve(m, logger, os.UserHomeDir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("[client]\n")
	fmt.Fprintf(&b, "user=%s\n", optionQuote(r.User))
	if r.Password != "" {
		fmt.Fprintf(&b, "password=%s\n", optionQuote(r.Password))
	}
	if r.Net == "unix" {
		fmt.Fprintf(&b, "socket=%s\n", optionQuote(r.Addr))
	} else {
		host, port, err := net.SplitHostPort(r.Addr)
		if err != nil {
			return "", fmt.Errorf("mysql address %q: %w", r.Addr, err)
		}
		fmt.Fprintf(&b, "host=%s\nport=%s\nprotocol=tcp\n", optionQuote(host), port)
	}
	p := filepath.Join(dir, "client.cnf")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// optionQuote quotes a value for a my.cnf file.
func optionQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

type countWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.fn != nil {
		c.fn(c.n)
	}
	return n, err
}

// dirSize adds up the sizes of the regular files under dir that
// mariadb-backup copies, roughly (for a progress bar only): binary and
// relay logs (NAME.000042, NAME.index) and ibtmp1 are left out.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !notCopied.MatchString(d.Name()) {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// run runs binary with args (stdin and stdout as given); a failure's error
// carries the end of what it said on stderr, which is also logged at debug.
// stderr, when not nil, is given what it says on stderr too.
func run(ctx context.Context, logger *slog.Logger, binary string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, binaryOr(binary), args...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, stderr)
	}
	logger.Debug("running", "cmd", cmd.Path, "args", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s failed: %w: %s", filepath.Base(cmd.Path), firstArg(args), err, tail.String())
	}
	return nil
}

func firstArg(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "--defaults") {
			return a
		}
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.buf)) }
