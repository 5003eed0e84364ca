package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// BinlogPos is a position in a server's binary log: a file name and the
// byte offset of an event boundary in it (SHOW MASTER STATUS, end_log_pos).
type BinlogPos struct {
	File string `json:"file"`
	Pos  uint64 `json:"pos"`
}

// String is FILE:POS, the form of --until-position.
func (p BinlogPos) String() string {
	if p.File == "" {
		return ""
	}
	return p.File + ":" + strconv.FormatUint(p.Pos, 10)
}

// IsZero reports whether p names no position.
func (p BinlogPos) IsZero() bool { return p.File == "" }

// ParseBinlogPos parses FILE:POS.
func ParseBinlogPos(s string) (BinlogPos, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return BinlogPos{}, fmt.Errorf("%q: expected FILE:POS (e.g. binlog.000042:1234)", s)
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || n < 4 {
		return BinlogPos{}, fmt.Errorf("%q: the position after ':' must be a byte offset of 4 or more", s)
	}
	return BinlogPos{File: s[:i], Pos: n}, nil
}

// CompareBinlogFiles orders binary log file names the way the server
// creates them: by base name, then by the numeric extension (binlog.999999
// comes before binlog.1000000). It returns -1, 0 or +1.
func CompareBinlogFiles(a, b string) int {
	if a == b {
		return 0
	}
	ab, an, aok := splitBinlogName(a)
	bb, bn, bok := splitBinlogName(b)
	if aok && bok && ab == bb {
		switch {
		case an < bn:
			return -1
		case an > bn:
			return 1
		}
	}
	return strings.Compare(a, b)
}

// SameBinlogSeries reports whether two binary log files belong to the same
// numbered series (same base name), so that their order means something.
func SameBinlogSeries(a, b string) bool {
	ab, _, aok := splitBinlogName(a)
	bb, _, bok := splitBinlogName(b)
	return aok && bok && ab == bb
}

// splitBinlogName splits "binlog.000042" into "binlog" and 42.
func splitBinlogName(name string) (base string, n uint64, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return name, 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return name, 0, false
	}
	return name[:i], n, true
}

// NextBinlogFile is the name the server gives the file after name
// (binlog.000042 → binlog.000043, keeping the width), or "" when name has
// no numeric extension.
func NextBinlogFile(name string) string {
	base, n, ok := splitBinlogName(name)
	if !ok {
		return ""
	}
	width := len(name) - len(base) - 1
	return fmt.Sprintf("%s.%0*d", base, width, n+1)
}

// CompareBinlogPos orders positions: by file (CompareBinlogFiles), then by
// offset. It returns -1, 0 or +1.
func CompareBinlogPos(a, b BinlogPos) int {
	if c := CompareBinlogFiles(a.File, b.File); c != 0 {
		return c
	}
	switch {
	case a.Pos < b.Pos:
		return -1
	case a.Pos > b.Pos:
		return 1
	}
	return 0
}

// Binlog flavors: which server wrote the log (event types and GTIDs
// differ).
const (
	FlavorMariaDB = "mariadb"
	FlavorMySQL   = "mysql"
)

// BinlogFile is one file of SHOW BINARY LOGS.
type BinlogFile struct {
	Name string
	Size uint64
}

// BinlogServer is what the archiver needs to know of the server whose
// binary log it streams.
type BinlogServer struct {
	Version  string
	Flavor   string // FlavorMariaDB or FlavorMySQL
	ServerID uint32
	// Format is binlog_format: ROW, MIXED or STATEMENT.
	Format string
	// Checksum is binlog_checksum (CRC32 or NONE; "" when unknown).
	Checksum string
	// Current is the end of the binary log (SHOW MASTER STATUS).
	Current BinlogPos
	// GTID is the GTID position at Current: gtid_binlog_pos on MariaDB,
	// gtid_executed on MySQL ("" without GTIDs).
	GTID string
	// Logs are the binary log files the server still has, oldest first.
	Logs []BinlogFile
	// TLS reports that the server accepted TLS from this client (the
	// replication connection uses it too).
	TLS bool
	// Warnings are prerequisites that are met but not ideal (binlog_format
	// not ROW), each a sentence saying what to change.
	Warnings []string
}

// Has reports whether the server still has the binary log file name.
func (s *BinlogServer) Has(name string) bool {
	for _, f := range s.Logs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Oldest is the first position the server can still send (its oldest
// binary log, at offset 4).
func (s *BinlogServer) Oldest() BinlogPos {
	if len(s.Logs) == 0 {
		return BinlogPos{}
	}
	return BinlogPos{File: s.Logs[0].Name, Pos: 4}
}

// ErrBinlogPrerequisite is matched by the errors of a server or account
// that cannot be archived from (binary log off, a missing privilege…);
// the message says what to change.
var ErrBinlogPrerequisite = errors.New("binary log archiving prerequisite not met")

type prereqError struct{ err error }

func (e *prereqError) Error() string        { return e.err.Error() }
func (e *prereqError) Unwrap() error        { return e.err }
func (e *prereqError) Is(target error) bool { return target == ErrBinlogPrerequisite }

// prereqf is a prerequisite error; format may wrap a cause with %w.
func prereqf(format string, args ...any) error {
	return &prereqError{fmt.Errorf(format, args...)}
}

// BinlogSource reads a server's binary log: the prerequisites, the files it
// still has and the GTID at a position over an ordinary connection, and
// the events themselves over a replication connection (Stream).
type BinlogSource struct {
	m        conn.Config
	db       *sql.DB
	log      *slog.Logger
	serverID uint32
	srv      conn.ServerInfo
	account  string // user@host of the session, for messages
	tls      bool
}

// BinlogSourceOptions configure OpenBinlogSource.
type BinlogSourceOptions struct {
	// ServerID is the replica server_id the archiver registers with; it
	// must be unique among the server's replicas (0 = ArchiverServerID of
	// Name).
	ServerID uint32
	// Name identifies the archiver (the job name) for the derived server_id.
	Name   string
	Logger *slog.Logger
}

// ArchiverServerID derives a replica server_id from the host name and the
// archiver's name: stable across restarts (so that the server replaces a
// dead archiver's session instead of keeping both), distinct between jobs
// and hosts, never 0, and in the upper half of the 32-bit range, away from
// the small numbers servers are usually given.
func ArchiverServerID(name string) uint32 {
	host, _ := os.Hostname()
	h := fnv.New32a()
	h.Write([]byte("ops-binlog\x00" + host + "\x00" + name))
	return h.Sum32() | 0x80000000
}

// OpenBinlogSource connects to the server and checks the prerequisites of
// archiving its binary log: log_bin on, a binlog_format the archive can
// replay (ROW recommended; MIXED and STATEMENT are accepted with a
// warning), a non-zero server_id, and an account that may read the binary
// log (BINLOG MONITOR on MariaDB, REPLICATION CLIENT on MySQL). The
// REPLICATION SLAVE privilege is checked when Stream registers as a
// replica. A prerequisite that is not met is an error matching
// ErrBinlogPrerequisite that says what to change.
func OpenBinlogSource(ctx context.Context, m conn.Config, o BinlogSourceOptions) (*BinlogSource, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := conn.Connect(ctx, m, logger)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	s := &BinlogSource{m: m, db: db, log: logger, serverID: o.ServerID}
	if s.serverID == 0 {
		s.serverID = ArchiverServerID(o.Name)
	}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *BinlogSource) init(ctx context.Context) error {
	srv, err := conn.ReadServerInfo(ctx, s.db)
	if err != nil {
		return err
	}
	s.srv = srv
	var cu sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&cu); err == nil {
		s.account = cu.String
	}
	var cipher, name sql.NullString
	if err := s.db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err == nil {
		s.tls = cipher.String != ""
	}
	return nil
}

// ServerID is the server_id the archiver registers with.
func (s *BinlogSource) ServerID() uint32 { return s.serverID }

// Close releases the query connection.
func (s *BinlogSource) Close() error { return s.db.Close() }

// Inspect reads the server's binary log state and checks the
// prerequisites again (they may change while an archiver runs).
func (s *BinlogSource) Inspect(ctx context.Context) (*BinlogServer, error) {
	out := &BinlogServer{Version: s.srv.Version, Flavor: FlavorMySQL, TLS: s.tls}
	if s.srv.MariaDB {
		out.Flavor = FlavorMariaDB
	}
	who := "the archiver's account"
	if s.account != "" {
		who = "the account " + s.account
	}
	rows, err := conn.QueryRows(ctx, s.db, "SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.server_id AS server_id, @@GLOBAL.binlog_format AS binlog_format")
	if err != nil || len(rows) != 1 {
		return nil, fmt.Errorf("reading log_bin, server_id and binlog_format: %w", err)
	}
	if lb := conn.Col(rows[0], "log_bin"); lb != "1" && !strings.EqualFold(lb, "ON") {
		return nil, prereqf("binary logging is off on the server (log_bin=%s): point-in-time recovery needs it: set log_bin (e.g. log_bin=binlog and a unique server_id in the [mariadbd] or [mysqld] section) and restart the server", lb)
	}
	id, _ := strconv.ParseUint(conn.Col(rows[0], "server_id"), 10, 32)
	if id == 0 {
		return nil, prereqf("server_id is 0 on the server: it refuses replicas, so the binary log cannot be streamed: set server_id to a unique non-zero number (SET GLOBAL server_id=1, and in the config file)")
	}
	out.ServerID = uint32(id)
	if out.ServerID == s.serverID {
		return nil, prereqf("the archiver's replica server_id %d is the server's own server_id: change the server's server_id or the job name", s.serverID)
	}
	out.Format = strings.ToUpper(conn.Col(rows[0], "binlog_format"))
	switch out.Format {
	case "ROW":
	case "MIXED", "STATEMENT":
		out.Warnings = append(out.Warnings, fmt.Sprintf("binlog_format is %s: archived and replayed as logged, but a replay of statements that are not deterministic (UUID(), NOW() in some contexts, LIMIT without ORDER BY…) may differ from the original; ROW is recommended (SET GLOBAL binlog_format=ROW and in the config file)", out.Format))
	default:
		return nil, prereqf("binlog_format %q is not supported: set binlog_format=ROW", out.Format)
	}
	var sum sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_checksum").Scan(&sum); err == nil {
		out.Checksum = strings.ToUpper(sum.String)
	}
	priv := "BINLOG MONITOR"
	if !s.srv.MariaDB {
		priv = "REPLICATION CLIENT"
	}
	status := "SHOW MASTER STATUS"
	if !s.srv.MariaDB && s.srv.AtLeast(8, 2, 0) {
		status = "SHOW BINARY LOG STATUS"
	}
	st, err := conn.QueryRows(ctx, s.db, status)
	if conn.IsAccessDenied(err) {
		return nil, prereqf("%s may not read the binary log state (%s: %w): GRANT %s, REPLICATION SLAVE ON *.* TO %s", who, status, err, priv, accountOrPlaceholder(s.account))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", status, err)
	}
	if len(st) != 1 {
		return nil, prereqf("%s returned no row: binary logging is off on the server: set log_bin and restart it", status)
	}
	out.Current.File = conn.Col(st[0], "File")
	out.Current.Pos, _ = strconv.ParseUint(conn.Col(st[0], "Position"), 10, 64)
	gq := "SELECT @@GLOBAL.gtid_executed"
	if s.srv.MariaDB {
		gq = "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	var g sql.NullString
	if err := s.db.QueryRowContext(ctx, gq).Scan(&g); err == nil {
		out.GTID = strings.ReplaceAll(g.String, "\n", "")
	}
	logs, err := conn.QueryRows(ctx, s.db, "SHOW BINARY LOGS")
	if conn.IsAccessDenied(err) {
		return nil, prereqf("%s may not list the binary logs (SHOW BINARY LOGS: %w): GRANT %s ON *.* TO %s", who, err, priv, accountOrPlaceholder(s.account))
	}
	if err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	for _, r := range logs {
		size, _ := strconv.ParseUint(conn.Col(r, "File_size"), 10, 64)
		out.Logs = append(out.Logs, BinlogFile{Name: conn.Col(r, "Log_name"), Size: size})
	}
	return out, nil
}

func accountOrPlaceholder(a string) string {
	if a == "" {
		return "'user'@'host'"
	}
	user, host, ok := strings.Cut(a, "@")
	if !ok {
		return "'" + a + "'"
	}
	return "'" + user + "'@'" + host + "'"
}

// GTIDAt is the GTID position (gtid_binlog_pos form) at a position of the
// binary log: MariaDB's BINLOG_GTID_POS. On MySQL, or when the server
// cannot tell, it returns "".
func (s *BinlogSource) GTIDAt(ctx context.Context, p BinlogPos) (string, error) {
	if !s.srv.MariaDB {
		return "", nil
	}
	var g sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", p.File, p.Pos).Scan(&g); err != nil {
		return "", fmt.Errorf("BINLOG_GTID_POS(%s): %w", p, err)
	}
	return g.String, nil
}
