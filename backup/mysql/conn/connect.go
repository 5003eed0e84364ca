package conn

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
)

// DefaultSocket is used when neither a host nor a socket is configured.
const DefaultSocket = "/run/mysqld/mysqld.sock"

// Connect opens a connection pool to the server described by m and checks it
// with a ping. The password is taken from m.Password, m.PasswordFile or a
// my.cnf defaults file ([client] section; ~/.my.cnf when m has neither a user
// nor a password); it is only ever placed in the driver's gomysql.Config, never
// in a DSN string, a log line or an error.
//
// The session uses utf8mb4, the text protocol without parseTime or
// interpolateParams, and the server's max_allowed_packet.
//
// Deadlines (m.Timeout, default 30s): every new connection (dial, TLS
// handshake, login) must complete within the timeout. Every read and write
// of a session that makes no progress for the timeout makes ops look at the
// server from a new connection (see deadlineConn): the session fails when
// the server does not answer, or when it shows the session idle, gone or
// blocked writing to us (the network path stalled); it goes on waiting while
// the server is busy with the statement, so a long lock wait, CHECKSUM
// TABLE of a large table or a slow restore statement is not cut short. The
// driver's own ReadTimeout/WriteTimeout stay 0: they could not tell a busy
// server from a stalled one. Cancelling ctx of a statement still aborts it
// at once.
func Connect(ctx context.Context, m Config, logger *slog.Logger) (*sql.DB, error) {
	db, _, err := ConnectWithVars(ctx, m, logger, nil)
	return db, err
}

// connect is Connect; every session of the pool also runs SET name=value
// for each of vars, and the transport it returns knows every session (for
// killQueries).
func ConnectWithVars(ctx context.Context, m Config, logger *slog.Logger, vars map[string]string) (*sql.DB, *transport, error) {
	return connect(ctx, m, logger, vars, false)
}

// ConnectMultiStatements is Connect with multi-statement packets allowed:
// only the replay uses it, to send the statements of several source
// transactions in one round trip once the client's own reading of
// mariadb-binlog's output has split them (see replay.Replayer).
func ConnectMultiStatements(ctx context.Context, m Config, logger *slog.Logger) (*sql.DB, error) {
	db, _, err := connect(ctx, m, logger, nil, true)
	return db, err
}

func connect(ctx context.Context, m Config, logger *slog.Logger, vars map[string]string, multi bool) (*sql.DB, *transport, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := driverConfig(m, logger)
	if err != nil {
		return nil, nil, err
	}
	cfg.MultiStatements = multi
	if len(vars) > 0 {
		cfg.Params = vars // the driver runs SET name=value on every new session
	}
	tr := &transport{timeout: m.EffectiveTimeout(), addr: describe(cfg), log: logger, track: vars != nil}
	cfg.DialFunc = tr.dial
	base, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql %s: %w", describe(cfg), err)
	}
	tr.base = base
	db := sql.OpenDB(&connector{tr: tr})
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connect to mysql %s as %q: %w", describe(cfg), cfg.User, explainTLS(err, m.TLS, cfg))
	}
	return db, tr, nil
}

// explainTLS adds the TLS settings to a certificate verification failure.
func explainTLS(err error, t TLS, cfg *gomysql.Config) error {
	mode := t.Mode
	if mode == "" {
		mode = DefaultTLSMode
	}
	var cve *tls.CertificateVerificationError
	var ve *verifyError
	switch {
	case errors.As(err, &ve):
		return err // already says so
	case errors.As(err, &cve):
		name := ""
		if cfg.TLS != nil {
			name = cfg.TLS.ServerName
		}
		return fmt.Errorf("tls mode %s (%s, server name %q): %w", mode, trustedBy(t.CAFile), name, err)
	case errors.Is(err, gomysql.ErrNoTLS):
		return fmt.Errorf("tls mode %s: %w", mode, err)
	}
	return err
}

// trustedBy names the trust anchors of verify-ca/verify-identity.
func trustedBy(caFile string) string {
	if caFile == "" {
		return "the system roots (no ca_file)"
	}
	return "ca_file " + caFile
}

// describe names the endpoint of cfg for messages (never the password).
func describe(cfg *gomysql.Config) string {
	if cfg.Net == "unix" {
		return "socket " + cfg.Addr
	}
	return cfg.Addr
}

// ClientOptions is what a my.cnf [client] section can set.
type ClientOptions struct {
	User, Password, Host, Socket string
	Port                         int
	HasPassword                  bool
}

// Resolved is the effective connection settings after merging the defaults
// file, the password file and the explicit settings.
type Resolved struct {
	Net, Addr, User, Password string
}

// driverConfig builds the driver configuration for m (without the dial
// function, which Connect adds).
func driverConfig(m Config, logger *slog.Logger) (*gomysql.Config, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, err := Resolve(m, logger, os.UserHomeDir)
	if err != nil {
		return nil, err
	}
	cfg := gomysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = r.Net, r.Addr, r.User, r.Password
	cfg.Collation = "utf8mb4_general_ci"
	cfg.ParseTime = false
	cfg.InterpolateParams = false
	cfg.MultiStatements = false
	cfg.MaxAllowedPacket = 0                 // use the server's value
	cfg.Timeout = m.EffectiveTimeout()       // dial; the whole login is bounded by connector.Connect
	cfg.ReadTimeout, cfg.WriteTimeout = 0, 0 // see deadlineConn
	cfg.AllowNativePasswords = true
	cfg.Logger = driverLogger{logger}
	t := m.TLS
	if t.Mode == "" {
		t.Mode = DefaultTLSMode
	}
	host := "localhost" // a Unix socket is the local server
	if r.Net == "tcp" {
		host, _, _ = net.SplitHostPort(r.Addr)
	}
	if t.Mode == "preferred" && r.Net == "unix" {
		t.Mode = "disabled" // like the mysql client: nothing to protect on a local socket
	}
	tc, preferred, err := TLSConfig(t, host)
	if err != nil {
		return nil, err
	}
	cfg.TLS = tc
	cfg.AllowFallbackToPlaintext = preferred
	// The driver clears cfg.TLS on a plaintext fallback, on the connector's
	// shared Config unless a BeforeConnect hook makes it work on a copy:
	// without this one fallback would turn TLS off for every later connection
	// (and race with them).
	if err := cfg.Apply(gomysql.BeforeConnect(func(context.Context, *gomysql.Config) error { return nil })); err != nil {
		return nil, err
	}
	return cfg, nil
}

type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) { d.l.Debug("mysql driver: " + fmt.Sprint(v...)) }

// Resolve merges the settings. home is os.UserHomeDir (a parameter for tests).
func Resolve(m Config, logger *slog.Logger, home func() (string, error)) (Resolved, error) {
	var def ClientOptions
	switch {
	case m.DefaultsFile != "":
		d, err := readDefaultsFile(m.DefaultsFile)
		if err != nil {
			return Resolved{}, err
		}
		warnIfReadable(m.DefaultsFile, logger)
		def = d
	case m.User == "" && m.Password.IsZero() && m.PasswordFile == "":
		if h, err := home(); err == nil && h != "" {
			p := filepath.Join(h, ".my.cnf")
			if _, err := os.Stat(p); err == nil {
				d, err := readDefaultsFile(p)
				if err != nil {
					return Resolved{}, err
				}
				def = d
			}
		}
	}
	var r Resolved
	r.User = firstNonEmpty(m.User, def.User)
	if r.User == "" {
		if u, err := user.Current(); err == nil {
			r.User = u.Username
		}
	}
	switch {
	case !m.Password.IsZero():
		r.Password = m.Password.Reveal()
	case m.PasswordFile != "":
		p, err := readPasswordFile(m.PasswordFile, logger)
		if err != nil {
			return Resolved{}, err
		}
		r.Password = p
	case def.HasPassword:
		r.Password = def.Password
	}
	host := firstNonEmpty(m.Host, def.Host)
	socket := firstNonEmpty(m.Socket, def.Socket)
	port := m.Port
	if port == 0 {
		port = def.Port
	}
	if port == 0 {
		port = 3306
	}
	switch {
	case m.Socket != "" || (m.Host == "" && socket != ""):
		r.Net, r.Addr = "unix", socket
	case host == "" || host == "localhost":
		// Like the mysql client: "localhost" means the Unix socket.
		r.Net, r.Addr = "unix", firstNonEmpty(socket, DefaultSocket)
	default:
		r.Net, r.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(port))
	}
	return r, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func readPasswordFile(path string, logger *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("mysql password_file: %w", err)
	}
	warnIfReadable(path, logger)
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

func warnIfReadable(path string, logger *slog.Logger) {
	if logger == nil {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o044 != 0 {
		logger.Warn("file holding a Config password is readable by group or others; chmod 600 it",
			"path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}

// readDefaultsFile reads the [client], [client-server] and [client-mariadb]
// sections of a my.cnf file (later values win). !include directives are not
// followed.
func readDefaultsFile(path string) (ClientOptions, error) {
	f, err := os.Open(path)
	if err != nil {
		return ClientOptions{}, fmt.Errorf("mysql defaults_file: %w", err)
	}
	defer f.Close()
	o, err := ParseDefaults(f)
	if err != nil {
		return o, fmt.Errorf("mysql defaults_file %s: %w", path, err)
	}
	return o, nil
}

func ParseDefaults(r io.Reader) (ClientOptions, error) {
	var o ClientOptions
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	inClient := false
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '!' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return o, fmt.Errorf("line %d: malformed section header", lineNo)
			}
			switch strings.ToLower(strings.TrimSpace(line[1:end])) {
			case "client", "client-server", "client-mariadb":
				inClient = true
			default:
				inClient = false
			}
			continue
		}
		if !inClient {
			continue
		}
		key, val, hasVal := strings.Cut(line, "=")
		key = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "-", "_")
		val, err := optionValue(strings.TrimSpace(val))
		if err != nil {
			return o, fmt.Errorf("line %d: %s: %w", lineNo, key, err)
		}
		switch key {
		case "user":
			o.User = val
		case "password":
			if hasVal {
				o.Password, o.HasPassword = val, true
			}
		case "host":
			o.Host = val
		case "socket":
			o.Socket = val
		case "port":
			p, err := strconv.Atoi(val)
			if err != nil || p < 1 || p > 65535 {
				return o, fmt.Errorf("line %d: port %q is not a port number", lineNo, val)
			}
			o.Port = p
		}
	}
	return o, sc.Err()
}

// optionValue decodes a my.cnf value: quotes removed, escape sequences
// decoded inside quotes, and a trailing " #comment" dropped.
func optionValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if q := v[0]; q == '\'' || q == '"' {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == q:
				return b.String(), nil
			case c == '\\' && i+1 < len(v):
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case 'b':
					b.WriteByte('\b')
				case 's':
					b.WriteByte(' ')
				default:
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated quoted value")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	if i := strings.Index(v, "\t#"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}

// TLSConfig maps the tls modes onto a *tls.Config for the driver (see TLS).
// preferred reports that the driver may fall back to plaintext when the
// server offers no TLS. host is the name verify-identity checks when
// t.ServerName is empty.
func TLSConfig(t TLS, host string) (cfg *tls.Config, preferred bool, err error) {
	switch t.Mode {
	case "", "disabled":
		return nil, false, nil
	case "preferred", "required", "verify-ca", "verify-identity":
	default:
		return nil, false, fmt.Errorf("mysql tls mode %q: expected disabled, preferred, required, verify-ca or verify-identity", t.Mode)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, false, fmt.Errorf("mysql tls client certificate (cert_file %s, key_file %s): %w", t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	var pool *x509.CertPool // nil: the system roots
	if t.CAFile != "" && (t.Mode == "verify-ca" || t.Mode == "verify-identity") {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, false, fmt.Errorf("mysql tls ca_file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, false, fmt.Errorf("mysql tls ca_file %s: no PEM certificates", t.CAFile)
		}
	}
	switch t.Mode {
	case "preferred", "required":
		// Encrypted, not authenticated (like --ssl-mode=PREFERRED/REQUIRED).
		c.InsecureSkipVerify = true
		return c, t.Mode == "preferred", nil
	case "verify-ca":
		// Verify the chain but not the name: Go's verification is off and
		// done here instead, without a DNSName.
		c.InsecureSkipVerify = true
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, pool, t.CAFile)
		}
	case "verify-identity":
		c.RootCAs = pool
		c.ServerName = firstNonEmpty(t.ServerName, host, "localhost")
	}
	return c, false, nil
}

// verifyError is a server certificate that failed verify-ca.
type verifyError struct {
	ca  string
	err error
}

func (e *verifyError) Error() string {
	return fmt.Sprintf("tls mode verify-ca: the server certificate is not trusted by %s: %v", trustedBy(e.ca), e.err)
}

func (e *verifyError) Unwrap() error { return e.err }

// verifyChain checks the server's chain (leaf first) against roots (nil =
// the system roots), for server authentication, without checking a name.
func verifyChain(raw [][]byte, roots *x509.CertPool, caFile string) error {
	if len(raw) == 0 {
		return &verifyError{caFile, errors.New("the server sent no certificate")}
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		crt, err := x509.ParseCertificate(b)
		if err != nil {
			return &verifyError{caFile, err}
		}
		certs[i] = crt
	}
	inter := x509.NewCertPool()
	for _, crt := range certs[1:] {
		inter.AddCert(crt)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return &verifyError{caFile, err}
	}
	return nil
}
