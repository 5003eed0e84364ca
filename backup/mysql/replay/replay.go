package replay

import (
	"context"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ReplayOptions configure a Replayer.
type ReplayOptions struct {
	MySQL conn.Config
	// Databases maps SRC → DST: the restored databases, under their new
	// names (mysqlbinlog --rewrite-db).
	Databases map[string]string
	// Flavor is the source server's ("mariadb" or "mysql"): it picks
	// mariadb-binlog and mariadb, or mysqlbinlog and mysql.
	Flavor string
	// BinlogTool and Client override the programs (path or name in PATH).
	BinlogTool, Client string
	Logger             *slog.Logger
}

// Replayer applies binary log events to a server the way
// `mysqlbinlog FILE | mysql` does: the selected events are written as a
// binary log file to the stock mariadb-binlog/mysqlbinlog, whose output
// goes to the stock client (in --binary-mode, which reads mysqlbinlog's
// output as it is meant to be read, and --sandbox, which refuses any
// client command that touches files or runs programs). The GTID settings
// mysqlbinlog prints are left out: the replayed transactions are new
// writes of the target server, with its own GTIDs (so that a restore onto
// a server with gtid_strict_mode, or onto the source itself under another
// name, is not refused as out of order).
type Replayer struct {
	o       ReplayOptions
	tool    string
	client  *exec.Cmd
	stdin   io.WriteCloser
	dir     string
	stderr  *tailBuffer
	file    *exec.Cmd // the mysqlbinlog of the current file
	fileIn  io.WriteCloser
	fileErr *tailBuffer
	copied  chan error
	text    *binlogText // the client's reading of mysqlbinlog's output, across files
}

// StartReplay starts the client. Call File for every binary log file of
// the source, then Close.
func StartReplay(ctx context.Context, o ReplayOptions) (*Replayer, error) {
	tool, client := o.BinlogTool, o.Client
	if tool == "" {
		tool = firstInPath("mariadb-binlog", "mysqlbinlog")
		if o.Flavor == "mysql" {
			tool = firstInPath("mysqlbinlog")
		}
	}
	if client == "" {
		client = firstInPath("mariadb", "mysql")
		if o.Flavor == "mysql" {
			client = firstInPath("mysql")
		}
	}
	if tool == "" || client == "" {
		return nil, fmt.Errorf("point-in-time restore needs the stock mysqlbinlog (mariadb-binlog) and mysql (mariadb) clients in PATH: install the mariadb-client (or mysql-client) package")
	}
	r := &Replayer{o: o, tool: tool, text: newBinlogText()}
	dir, err := os.MkdirTemp("", "ops-replay-")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	cnf := filepath.Join(dir, "client.cnf")
	if err := writeClientDefaults(cnf, o.MySQL, o.Logger); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.client = exec.CommandContext(ctx, client, "--defaults-file="+cnf, "--binary-mode", "--sandbox", "--batch",
		"--skip-auto-rehash")
	r.stderr = &tailBuffer{max: 8 << 10}
	r.client.Stderr, r.client.Stdout = r.stderr, r.stderr
	if r.stdin, err = r.client.StdinPipe(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := r.client.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", client, err)
	}
	return r, nil
}

func firstInPath(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// File starts the events of one binary log file: fde is its format
// description as written at the start of a file.
func (r *Replayer) File(ctx context.Context, fde []byte) error {
	if err := r.endFile(); err != nil {
		return err
	}
	args := []string{"--no-defaults", "--skip-annotate-row-events"}
	if r.o.Flavor == "mysql" {
		args = append(args, "--skip-gtids")
	}
	names := make([]string, 0, len(r.o.Databases))
	for src, dst := range r.o.Databases {
		if src != dst {
			names = append(names, src)
		}
	}
	sort.Strings(names)
	for _, src := range names {
		dst := r.o.Databases[src]
		if strings.Contains(src, "->") || strings.Contains(dst, "->") {
			return fmt.Errorf("database names containing \"->\" cannot be given to mysqlbinlog --rewrite-db (%s → %s)", sqltext.QuoteIdent(src), sqltext.QuoteIdent(dst))
		}
		args = append(args, "--rewrite-db="+src+"->"+dst)
	}
	args = append(args, "-")
	cmd := exec.CommandContext(ctx, r.tool, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	r.fileErr = &tailBuffer{max: 8 << 10}
	cmd.Stderr = r.fileErr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.tool, err)
	}
	r.file, r.fileIn = cmd, in
	r.copied = make(chan error, 1)
	go func() { r.copied <- r.text.copyWithoutGTIDs(r.stdin, out) }()
	if _, err := in.Write(binlog.BinlogMagic); err != nil {
		return r.failure(fmt.Errorf("writing to %s: %w", r.tool, err))
	}
	return r.Write(fde)
}

// Write passes events (raw, as in the binary log) to the current file.
func (r *Replayer) Write(events ...[]byte) error {
	for _, e := range events {
		if _, err := r.fileIn.Write(e); err != nil {
			return r.failure(fmt.Errorf("writing to %s: %w", r.tool, err))
		}
	}
	return nil
}

// endFile closes the current file's mysqlbinlog and waits until its output
// has reached the client.
func (r *Replayer) endFile() error {
	if r.file == nil {
		return nil
	}
	_ = r.fileIn.Close()
	cerr := <-r.copied
	werr := r.file.Wait()
	r.file = nil
	if werr != nil {
		return r.failure(fmt.Errorf("%s: %w: %s", filepath.Base(r.tool), werr, r.fileErr.String()))
	}
	if cerr != nil {
		return r.failure(fmt.Errorf("passing %s's output to the client: %w", filepath.Base(r.tool), cerr))
	}
	return nil
}

// failure explains an error with what the client said (it usually is the
// reason: a statement failed and it stopped reading).
func (r *Replayer) failure(err error) error {
	if s := strings.TrimSpace(r.stderr.String()); s != "" {
		return fmt.Errorf("%w; %s said: %s", err, filepath.Base(r.client.Path), s)
	}
	return err
}

// Close ends the last file and waits for the client: an error when any
// statement failed.
func (r *Replayer) Close() error {
	defer os.RemoveAll(r.dir)
	ferr := r.endFile()
	_ = r.stdin.Close()
	cerr := r.client.Wait()
	if cerr != nil {
		return fmt.Errorf("applying the binary log: %s: %w: %s", filepath.Base(r.client.Path), cerr, strings.TrimSpace(r.stderr.String()))
	}
	return ferr
}

// Abort stops both programs.
func (r *Replayer) Abort() {
	if r.file != nil {
		_ = r.file.Process.Kill()
		_ = r.fileIn.Close()
		<-r.copied
		_ = r.file.Wait()
		r.file = nil
	}
	_ = r.client.Process.Kill()
	_ = r.stdin.Close()
	_ = r.client.Wait()
	os.RemoveAll(r.dir)
}

// gtidLine matches the lines mariadb-binlog prints to give the following
// transaction the source's GTID (or server id).
var gtidLine = regexp.MustCompile(`^/\*M!100001 SET @@session\.(gtid_domain_id|server_id|gtid_seq_no)=[0-9]+\*//\*!\*/;$`)

// copyWithoutGTIDs copies one mysqlbinlog output alone (tests).
func copyWithoutGTIDs(w io.Writer, r io.Reader) error {
	return newBinlogText().copyWithoutGTIDs(w, r)
}

// writeClientDefaults writes an option file for the client (mode 0600, in
// a private directory): the password never appears in argv.
func writeClientDefaults(path string, m conn.Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res, err := conn.Resolve(m, logger, os.UserHomeDir)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("[client]\n")
	put := func(k, v string) error {
		if strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("mysql %s contains a line break: it cannot be passed to the mysql client", k)
		}
		fmt.Fprintf(&b, "%s=\"%s\"\n", k, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
		return nil
	}
	if err := put("user", res.User); err != nil {
		return err
	}
	if err := put("password", res.Password); err != nil {
		return err
	}
	if res.Net == "unix" {
		if err := put("socket", res.Addr); err != nil {
			return err
		}
		b.WriteString("protocol=socket\n")
	} else {
		host, port, _ := strings.Cut(res.Addr, ":")
		if i := strings.LastIndex(res.Addr, ":"); i >= 0 {
			host, port = strings.Trim(res.Addr[:i], "[]"), res.Addr[i+1:]
		}
		if err := put("host", host); err != nil {
			return err
		}
		if _, err := strconv.Atoi(port); err != nil {
			return fmt.Errorf("mysql port %q: %w", port, err)
		}
		fmt.Fprintf(&b, "port=%s\nprotocol=tcp\n", port)
	}
	if err := clientTLS(&b, m.TLS, res.Net, put); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// clientTLS writes the client's TLS options for a TLS mode.
func clientTLS(b *strings.Builder, t conn.TLS, network string, put func(k, v string) error) error {
	mode := t.Mode
	if mode == "" {
		mode = conn.DefaultTLSMode
	}
	if mode == "disabled" || mode == "preferred" && network == "unix" {
		b.WriteString("skip-ssl\n")
		return nil
	}
	if mode != "preferred" {
		b.WriteString("ssl\n")
	}
	for k, v := range map[string]string{"ssl-ca": t.CAFile, "ssl-cert": t.CertFile, "ssl-key": t.KeyFile} {
		if v != "" {
			if err := put(k, v); err != nil {
				return err
			}
		}
	}
	if mode == "verify-ca" || mode == "verify-identity" {
		b.WriteString("ssl-verify-server-cert\n")
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
