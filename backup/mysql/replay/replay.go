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
	// Mode is ModeBatched (the default when empty) or ModeStock.
	Mode string
	// BatchGroups is how many source transactions one commit of the
	// batched replay may hold (DefaultBatchGroups when 0).
	BatchGroups int
	// Progress, when set, is called by the batched replay after each
	// commit on the target, from another goroutine.
	Progress func(Applied)
}

// Replay modes.
const (
	// ModeBatched: ops reads mariadb-binlog's output as the client does
	// and sends the statements itself, several source transactions to a
	// commit and many statements to a round trip (see batched.go).
	ModeBatched = "batched"
	// ModeStock: `mariadb-binlog | mariadb --binary-mode`, one commit per
	// source transaction, as an admin would type it.
	ModeStock = "stock"
)

// DefaultBatchGroups sizes the batched replay's commits: this many source
// transactions (or DefaultBatchBytes of their events) to one commit on the
// target. Larger batches save little more (the commit's fsync is then a
// small part of the work) and make a failed batch longer to roll back.
const (
	DefaultBatchGroups = 500
	DefaultBatchBytes  = 8 << 20
)

// Applied is how far a replay has got on the target: every source event
// group (transaction or statement) up to End is committed there.
type Applied struct {
	Groups int              // the groups committed, counted from the start of the replay
	End    binlog.BinlogPos // the source position after the last of them
	// Uncertain, after a failure, says why the ledger could not be read:
	// the group after End may be committed too.
	Uncertain string
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
	batched *batchedClient // ModeBatched: ops is the client
	client  *exec.Cmd      // ModeStock: the stock client
	stdin   io.WriteCloser
	dir     string
	stderr  *tailBuffer
	file    *exec.Cmd // the mysqlbinlog of the current file
	fileIn  io.WriteCloser
	fileErr *tailBuffer
	copied  chan error
	text    *binlogText // the client's reading of mysqlbinlog's output, across files

	offset int64   // bytes written to the current file's mysqlbinlog
	marks  *marks  // ModeBatched: what each event written is, by offset
	groups int     // groups written
	passed Applied // the last group written in full
	batch  batch   // ModeBatched: the open batch
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
	switch o.Mode {
	case "":
		o.Mode = ModeBatched
	case ModeBatched, ModeStock:
	default:
		return nil, fmt.Errorf("replay mode %q: expected %s or %s", o.Mode, ModeBatched, ModeStock)
	}
	if o.BatchGroups == 0 {
		o.BatchGroups = DefaultBatchGroups
	}
	if o.BatchGroups < 1 {
		return nil, fmt.Errorf("replay batch of %d transactions: expected at least 1", o.BatchGroups)
	}
	if o.Mode == ModeBatched {
		client = "ops" // not needed
	}
	if tool == "" || client == "" {
		return nil, fmt.Errorf("point-in-time restore needs the stock mysqlbinlog (mariadb-binlog) and mysql (mariadb) clients in PATH: install the mariadb-client (or mysql-client) package")
	}
	r := &Replayer{o: o, tool: tool, text: newBinlogText()}
	if o.Mode == ModeBatched {
		bc, err := startBatched(ctx, o, r.text)
		if err != nil {
			return nil, err
		}
		r.batched = bc
		return r, nil
	}
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
	if err := r.closeBatch(); err != nil {
		return err
	}
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
	r.offset = 0
	if r.batched != nil {
		r.marks = newMarks()
		m := r.marks
		go func() { r.copied <- r.batched.run(out, m) }()
	} else {
		go func() { r.copied <- r.text.copyWithoutGTIDs(r.stdin, out) }()
	}
	if err := r.write(mark{}, binlog.BinlogMagic); err != nil {
		return err
	}
	return r.write(mark{}, fde)
}

// Group passes the events of one source group (a transaction or a
// statement, raw as in the binary log) to the current file; end is the
// source position after it. The batched replay joins consecutive
// transactional groups into one transaction of the target (see batch).
func (r *Replayer) Group(events [][]byte, end binlog.BinlogPos) error {
	if r.batched != nil {
		if err := r.batched.failure(); err != nil {
			return err // the target refused something: no more events
		}
	}
	if len(events) == 0 {
		return nil
	}
	r.groups++
	done := Applied{Groups: r.groups, End: end}
	if r.batched == nil {
		for _, e := range events {
			if err := r.write(mark{}, e); err != nil {
				return err
			}
		}
		r.passed = done
		return nil
	}
	size := 0
	for _, e := range events {
		size += len(e)
	}
	if !batchable(events) {
		if err := r.closeBatch(); err != nil {
			return err
		}
		for i, e := range events {
			m := mark{}
			if i == len(events)-1 {
				m.commit = &done
			}
			if err := r.write(m, e); err != nil {
				return err
			}
		}
		r.passed = done
		return nil
	}
	body := events[:len(events)-1] // the commit is held: the next group may join
	if r.batch.open && r.batch.groups < r.o.BatchGroups && r.batch.bytes+size <= DefaultBatchBytes {
		body = body[1:] // its GTID event (BEGIN) too: it goes on the batch's transaction
	} else if err := r.closeBatch(); err != nil {
		return err
	}
	for _, e := range body {
		if err := r.write(mark{pack: true}, e); err != nil {
			return err
		}
	}
	r.batch = batch{open: true, groups: r.batch.groups + 1, bytes: r.batch.bytes + size, commit: events[len(events)-1], done: done}
	return nil
}

// closeBatch writes the open batch's commit (the Xid event of its last
// transaction).
func (r *Replayer) closeBatch() error {
	if !r.batch.open {
		return nil
	}
	b := r.batch
	r.batch = batch{}
	if err := r.write(mark{pack: true, commit: &b.done}, b.commit); err != nil {
		return err
	}
	r.passed = b.done
	return nil
}

// write passes one event to the current file's mysqlbinlog, recording
// what it is at its offset there (the batched replay reads it back from
// mysqlbinlog's "# at N" lines).
func (r *Replayer) write(m mark, e []byte) error {
	if r.marks != nil && len(e) > 4 {
		r.marks.put(r.offset, m)
	}
	r.offset += int64(len(e))
	if _, err := r.fileIn.Write(e); err != nil {
		return r.failure(fmt.Errorf("writing to %s: %w", r.tool, err))
	}
	return nil
}

// Passed is the last group passed on to mysqlbinlog in full (for the
// batched replay: with its commit).
func (r *Replayer) Passed() Applied { return r.passed }

// Applied is the last group committed on the target: known to the batched
// replay only (ok false for the stock client).
func (r *Replayer) Applied() (a Applied, ok bool) {
	if r.batched == nil {
		return Applied{}, false
	}
	return r.batched.applied(), true
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
	if r.batched != nil {
		// the executor's own error is the reason when it stopped reading
		if e := r.batched.failure(); e != nil {
			return fmt.Errorf("%w: %w", e, err)
		}
		return err
	}
	if s := strings.TrimSpace(r.stderr.String()); s != "" {
		return fmt.Errorf("%w; %s said: %s", err, filepath.Base(r.client.Path), s)
	}
	return err
}

// Close ends the last file and waits for the client: an error when any
// statement failed.
func (r *Replayer) Close() error {
	if r.batched != nil {
		ferr := r.closeBatch()
		if ferr == nil {
			ferr = r.endFile()
		}
		if ferr != nil {
			r.Abort()
			return ferr
		}
		return r.batched.close()
	}
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
	if r.batched != nil {
		r.batched.abort() // first: its goroutine may be waiting for the server
	}
	if r.file != nil {
		_ = r.file.Process.Kill()
		_ = r.fileIn.Close()
		<-r.copied
		_ = r.file.Wait()
		r.file = nil
	}
	if r.batched != nil {
		r.batched.finish()
		return
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
