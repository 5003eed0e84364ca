package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/exitcode"
)

// serveHarness runs runServe in-process on a config, with a listen function
// that records the address asked for and always binds loopback, so that no
// test ever listens on another interface, even when the code under test
// is wrong.
type serveHarness struct {
	t       *testing.T
	cfg     string
	st      streams
	stderr  *syncBuffer
	mu      sync.Mutex
	asked   []string // addresses passed to listen
	addr    string   // the loopback address actually bound
	reload  chan os.Signal
	done    chan error
	cancel  context.CancelFunc
	started bool
}

func newServeHarness(t *testing.T, body string) *serveHarness {
	t.Helper()
	h := &serveHarness{t: t, cfg: writeConfig(t, body), stderr: &syncBuffer{}, reload: make(chan os.Signal, 1), done: make(chan error, 1)}
	h.st = newStreams(io.Discard, h.stderr)
	return h
}

func (h *serveHarness) listen(ctx context.Context, addr string) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, addr)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err == nil {
		h.addr = ln.Addr().String()
	}
	return ln, err
}

func (h *serveHarness) askedFor() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.asked...)
}

func (h *serveHarness) bound() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr
}

// start runs `ops serve` and returns at once; runServe's error arrives on
// h.done. envListen, when set, is OPS_SERVE_LISTEN.
func (h *serveHarness) start(insecure bool, envListen string) error {
	h.t.Helper()
	t := h.t
	if envListen != "" {
		t.Setenv("OPS_SERVE_LISTEN", envListen)
	}
	load := func() (*opsRuntime, error) { return loadRuntime(h.st, loadOptions{file: h.cfg}) }
	rt, err := load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.started = true
	go func() {
		h.done <- runServe(ctx, rt, serveOptions{insecureListen: insecure, reload: h.reload, load: load, listen: h.listen})
	}()
	t.Cleanup(h.stop)
	return nil
}

// result waits for runServe to return (it must, soon, when it refuses).
func (h *serveHarness) result() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(reloadWait):
		h.t.Fatalf("runServe did not return within %s", reloadWait)
		return nil
	}
}

func (h *serveHarness) stop() {
	if !h.started {
		return
	}
	h.started = false
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("serve: %v", err)
		}
	case <-time.After(reloadWait):
		h.t.Errorf("serve did not stop within %s", reloadWait)
	}
	if h.t.Failed() {
		h.t.Logf("serve log:\n%s", h.stderr.String())
	}
}

// get sends a GET to the bound address with an optional bearer token.
func (h *serveHarness) get(c *http.Client, scheme, path, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+h.bound()+path, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitServing waits until the daemon answers /healthz over c.
func (h *serveHarness) waitServing(c *http.Client, scheme, token string) {
	h.t.Helper()
	deadline := time.Now().Add(reloadWait)
	for {
		if h.bound() != "" {
			if code, _, err := h.get(c, scheme, "/healthz", token); err == nil && code == http.StatusOK {
				return
			}
		}
		select {
		case err := <-h.done:
			h.t.Fatalf("serve returned: %v\n%s", err, h.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("serve did not answer /healthz within %s", reloadWait)
		}
	}
}

func writeSecret(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns a pool that trusts it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "ops serve test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeSecret(t, dir, "serve.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	keyFile = writeSecret(t, dir, "serve.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), 0o600)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

// A serve.listen that is not loopback, without a token or TLS, is refused
// with exit status 2 and a message saying what to set, before anything
// listens; the config file's line is named.
func TestServeRefusesNonLoopbackListen(t *testing.T) {
	for _, c := range []struct{ name, body, flag string }{
		{"any IPv4", "serve: {listen: \"0.0.0.0:0\"}\n", ""},
		{"any IPv6", "serve: {listen: \"[::]:0\"}\n", ""},
		{"empty host", "serve: {listen: \":0\"}\n", ""},
		{"from the environment", "", "0.0.0.0:0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newServeHarness(t, "lock_dir: "+t.TempDir()+"\n"+c.body)
			if err := h.start(false, c.flag); err != nil {
				t.Fatal(err)
			}
			err := h.result()
			if code := exitCode(err); code != exitcode.Usage {
				t.Fatalf("runServe = %v (exit %d), want exit 2", err, code)
			}
			h.started = false
			for _, want := range []string{"serve.listen", "not a loopback address", "serve.token_file", "serve.tls_cert_file", "--insecure-listen"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not mention %s", err, want)
				}
			}
			if c.flag == "" && !strings.Contains(err.Error(), h.cfg+":2: ") {
				t.Errorf("message %q does not name %s:2", err, h.cfg)
			}
			if asked := h.askedFor(); len(asked) > 0 {
				t.Errorf("listened on %v before refusing", asked)
			}
		})
	}
}

// Loopback addresses need nothing; a non-loopback one is served with
// --insecure-listen (with a warning), or with a token (warning that it
// travels in plain HTTP).
func TestServeNonLoopbackAllowed(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeSecret(t, dir, "token", "tok-123\n", 0o600)
	for _, c := range []struct {
		name, listen, extra string
		insecure            bool
		token, warn         string
	}{
		{"loopback IPv4", "127.0.0.1:0", "", false, "", ""},
		{"loopback 127/8", "127.0.0.2:0", "", false, "", ""},
		{"loopback IPv6", "[::1]:0", "", false, "", ""},
		{"--insecure-listen", "0.0.0.0:0", "", true, "", "--insecure-listen"},
		{"token", "0.0.0.0:0", "token_file: " + tokenFile, false, "tok-123", "travels in plain HTTP"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newServeHarness(t, fmt.Sprintf("lock_dir: %s\nserve:\n  listen: %q\n  %s\n", t.TempDir(), c.listen, c.extra))
			if err := h.start(c.insecure, ""); err != nil {
				t.Fatal(err)
			}
			h.waitServing(&http.Client{Timeout: reloadWait}, "http", c.token)
			if asked := h.askedFor(); len(asked) != 1 || asked[0] != c.listen {
				t.Errorf("listened on %v, want [%s]", asked, c.listen)
			}
			// Without serve.status_page, the status page is served.
			if code, _, err := h.get(&http.Client{Timeout: reloadWait}, "http", "/status.json", c.token); err != nil || code != http.StatusOK {
				t.Errorf("/status.json by default: %d %v, want 200", code, err)
			}
			log := h.stderr.String()
			if c.warn != "" && !strings.Contains(log, c.warn) {
				t.Errorf("no warning mentioning %q:\n%s", c.warn, log)
			}
			if c.warn == "" && strings.Contains(log, "level=WARN") {
				t.Errorf("unexpected warning:\n%s", log)
			}
		})
	}
}

// The whole HTTP side of `ops serve` from its config: HTTPS with the
// configured certificate, the token on every endpoint, the status page off,
// the token re-read at SIGHUP, and the token never printed.
func TestServeTokenTLSAndStatusPage(t *testing.T) {
	dir := t.TempDir()
	const token1, token2 = "first-token-0123456789", "second-token-9876543210"
	tokenFile := writeSecret(t, dir, "token", token1+"\n", 0o640)
	certFile, keyFile, pool := writeCert(t, dir)
	h := newServeHarness(t, fmt.Sprintf(`lock_dir: %s
serve:
  listen: "127.0.0.1:0"
  token_file: %s
  tls_cert_file: %s
  tls_key_file: %s
  status_page: false
`, filepath.Join(dir, "locks"), tokenFile, certFile, keyFile))
	if err := h.start(false, ""); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: reloadWait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	h.waitServing(c, "https", token1)

	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/": 404, "/status.json": 404} {
		if code, _, err := h.get(c, "https", path, token1); err != nil || code != want {
			t.Errorf("%s with the token: %d %v, want %d", path, code, err, want)
		}
		if code, _, err := h.get(c, "https", path, ""); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d %v, want 401", path, code, err)
		}
	}
	if code, _, err := h.get(&http.Client{Timeout: reloadWait}, "http", "/healthz", token1); err == nil && code == http.StatusOK {
		t.Error("plain HTTP answered 200")
	}

	// Rotation: a SIGHUP re-reads the token file.
	writeSecret(t, dir, "token", token2+"\n", 0o600)
	h.reload <- os.Interrupt // any value: runServe's reload channel
	deadline := time.Now().Add(reloadWait)
	for {
		code, _, err := h.get(c, "https", "/healthz", token2)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new token is not accepted after the reload: %d %v", code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _, _ := h.get(c, "https", "/healthz", token1); code != http.StatusUnauthorized {
		t.Errorf("the old token after the reload: %d, want 401", code)
	}
	h.stop()
	log := h.stderr.String()
	if strings.Contains(log, token1) || strings.Contains(log, token2) {
		t.Errorf("the token is in the log:\n%s", log)
	}
	if !strings.Contains(log, "secret file "+tokenFile+" (serve.token_file)") {
		t.Errorf("no warning for the group-readable token file:\n%s", log)
	}

	code, out, stderr := runOps(t, "--config", h.cfg, "config", "show")
	if code != 0 || strings.Contains(out+stderr, token2) || !strings.Contains(out, "token_file: "+tokenFile) {
		t.Errorf("config show: exit %d, token printed or token_file missing:\n%s%s", code, out, stderr)
	}
}

// Unusable serve.* files and half a TLS pair are configuration errors (exit
// 2) that never quote the token; `config check` catches the pair.
func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	for _, c := range []struct{ name, serve, want string }{
		{"empty token file", "token_file: " + writeSecret(t, dir, "empty", "\n\n", 0o600), "serve.token_file: " + dir + "/empty is empty"},
		{"token with a space", "token_file: " + writeSecret(t, dir, "spaced", "tok en\n", 0o600), "white space"},
		{"missing token file", "token_file: " + dir + "/missing", "serve.token_file: open " + dir + "/missing"},
		{"certificate without key", "tls_cert_file: " + certFile, "serve.tls_cert_file: set without serve.tls_key_file"},
		{"key without certificate", "tls_key_file: " + keyFile, "serve.tls_key_file: set without serve.tls_cert_file"},
		{"key that does not match", "{tls_cert_file: " + certFile + ", tls_key_file: " + certFile + "}", "serve.tls_cert_file " + certFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			serve := "serve:\n  " + c.serve + "\n"
			if strings.HasPrefix(c.serve, "{") {
				serve = "serve: " + c.serve + "\n"
			}
			h := newServeHarness(t, "lock_dir: "+t.TempDir()+"\n"+serve)
			err := h.start(false, "")
			if err == nil {
				err = h.result()
				h.started = false
			}
			if code := exitCode(err); code != exitcode.Usage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (exit %d), want exit 2 with %q", err, code, c.want)
			}
			if strings.Contains(err.Error(), "tok en") {
				t.Errorf("the error quotes the token: %v", err)
			}
			if len(h.askedFor()) > 0 {
				t.Error("listened despite the error")
			}
		})
	}
	p := writeConfig(t, "serve:\n  tls_cert_file: "+certFile+"\n")
	if code, _, stderr := runOps(t, "--config", p, "config", "check"); code != 2 || !strings.Contains(stderr, p+":2: serve.tls_cert_file: set without serve.tls_key_file") {
		t.Errorf("config check: exit %d %q", code, stderr)
	}
}
