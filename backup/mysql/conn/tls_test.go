package conn

import (
	"crypto/tls"
	"errors"
	"github.com/opsteam/ops/internal/testenv"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake between a server presenting
// certFile/keyFile (asking for an optional client certificate) and a client
// using cc; it returns the client's error and the client certificates the
// server saw.
func handshake(t *testing.T, certFile, keyFile string, cc *tls.Config) (int, error) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// TCP, not net.Pipe: a client alert must not block on an unread pipe.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	seen := make(chan int, 1)
	go func() {
		err := srv.Handshake()
		if err != nil {
			seen <- -1
			a.Close()
			return
		}
		seen <- len(srv.ConnectionState().PeerCertificates)
		// Let the client finish reading the handshake (TLS 1.3 tickets).
		buf := make([]byte, 1)
		srv.Read(buf)
	}()
	cli := tls.Client(b, cc)
	cli.SetDeadline(time.Now().Add(10 * time.Second))
	herr := cli.Handshake()
	if herr != nil {
		b.Close()
	}
	n := <-seen
	return n, herr
}

func TestTLSModes(t *testing.T) {
	good := testenv.NewTestPKI(t, "Good CA")
	other := testenv.NewTestPKI(t, "Other CA")
	srvCert, srvKey := good.Issue(t, "db.example", false, "db.example", "127.0.0.1")
	cliCert, cliKey := good.Issue(t, "ops-client", true)

	for _, tc := range []struct {
		name    string
		t       TLS
		host    string
		wantErr string // "" = handshake succeeds
	}{
		{"required ignores the CA", TLS{Mode: "required", CAFile: other.CAFile}, "127.0.0.1", ""},
		{"preferred is not verified", TLS{Mode: "preferred"}, "127.0.0.1", ""},
		{"verify-ca good CA, any name", TLS{Mode: "verify-ca", CAFile: good.CAFile}, "elsewhere.example", ""},
		{"verify-ca wrong CA", TLS{Mode: "verify-ca", CAFile: other.CAFile}, "db.example", "not trusted by ca_file " + other.CAFile},
		{"verify-ca system roots", TLS{Mode: "verify-ca"}, "db.example", "the system roots (no ca_file)"},
		{"verify-identity by host", TLS{Mode: "verify-identity", CAFile: good.CAFile}, "db.example", ""},
		{"verify-identity by IP", TLS{Mode: "verify-identity", CAFile: good.CAFile}, "127.0.0.1", ""},
		{"verify-identity server_name", TLS{Mode: "verify-identity", CAFile: good.CAFile, ServerName: "db.example"}, "10.9.9.9", ""},
		{"verify-identity wrong name", TLS{Mode: "verify-identity", CAFile: good.CAFile}, "other.example", "not other.example"},
		{"verify-identity wrong server_name", TLS{Mode: "verify-identity", CAFile: good.CAFile, ServerName: "wrong.example"}, "127.0.0.1", "not wrong.example"},
		{"verify-identity wrong CA", TLS{Mode: "verify-identity", CAFile: other.CAFile}, "db.example", "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, _, err := TLSConfig(tc.t, tc.host)
			if err != nil {
				t.Fatalf("tlsConfig: %v", err)
			}
			_, herr := handshake(t, srvCert, srvKey, cc)
			switch {
			case tc.wantErr == "" && herr != nil:
				t.Fatalf("handshake failed: %v", herr)
			case tc.wantErr != "" && herr == nil:
				t.Fatalf("handshake succeeded, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(herr.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", herr, tc.wantErr)
			}
		})
	}

	// The client certificate is sent in every TLS mode.
	for _, mode := range []string{"preferred", "required", "verify-ca", "verify-identity"} {
		cc, _, err := TLSConfig(TLS{Mode: mode, CAFile: good.CAFile, CertFile: cliCert, KeyFile: cliKey}, "db.example")
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if n, herr := handshake(t, srvCert, srvKey, cc); herr != nil || n != 1 {
			t.Errorf("%s with a client certificate: err %v, server saw %d certificates", mode, herr, n)
		}
	}
	if _, _, err := TLSConfig(TLS{Mode: "required", CertFile: cliCert, KeyFile: srvKey}, "h"); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("mismatched client key: %v", err)
	}
	if _, _, err := TLSConfig(TLS{Mode: "verify-ca", CAFile: srvKey}, "h"); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("a key as ca_file: %v", err)
	}
}

func TestVerifyErrorUnwraps(t *testing.T) {
	err := verifyChain(nil, nil, "ca.pem")
	var ve *verifyError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "sent no certificate") {
		t.Errorf("verifyChain(nil) = %v", err)
	}
}

func TestDriverConfigTLSAndTimeout(t *testing.T) {
	for _, tc := range []struct {
		name         string
		m            Config
		wantTLS      bool
		wantFallback bool
		wantServer   string
	}{
		{"default is preferred over TCP", Config{Host: "db.example", User: "u"}, true, true, ""},
		{"preferred over a socket is off", Config{Socket: "/x.sock", User: "u", TLS: TLS{Mode: "preferred"}}, false, false, ""},
		{"default over localhost (socket) is off", Config{Host: "localhost", User: "u"}, false, false, ""},
		{"disabled", Config{Host: "db.example", User: "u", TLS: TLS{Mode: "disabled"}}, false, false, ""},
		{"required over a socket", Config{Socket: "/x.sock", User: "u", TLS: TLS{Mode: "required"}}, true, false, ""},
		{"verify-identity over a socket checks localhost", Config{Socket: "/x.sock", User: "u", TLS: TLS{Mode: "verify-identity"}}, true, false, "localhost"},
		{"verify-identity checks the host", Config{Host: "10.1.2.3", User: "u", TLS: TLS{Mode: "verify-identity"}}, true, false, "10.1.2.3"},
	} {
		cfg, err := driverConfig(tc.m, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (cfg.TLS != nil) != tc.wantTLS || cfg.AllowFallbackToPlaintext != tc.wantFallback {
			t.Errorf("%s: TLS %v, fallback %v; want %v, %v", tc.name, cfg.TLS != nil, cfg.AllowFallbackToPlaintext, tc.wantTLS, tc.wantFallback)
		}
		if tc.wantServer != "" && cfg.TLS.ServerName != tc.wantServer {
			t.Errorf("%s: ServerName %q, want %q", tc.name, cfg.TLS.ServerName, tc.wantServer)
		}
		if cfg.Timeout != DefaultTimeout || cfg.ReadTimeout != 0 || cfg.WriteTimeout != 0 {
			t.Errorf("%s: timeouts %s/%s/%s", tc.name, cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout)
		}
	}
	cfg, err := driverConfig(Config{Host: "h", User: "u", Timeout: 5 * time.Second}, nil)
	if err != nil || cfg.Timeout != 5*time.Second {
		t.Errorf("timeout 5s: %v %v", cfg.Timeout, err)
	}
}

func TestConfigValidateTimeoutAndTLS(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // "" = valid
	}{
		{Config{}, ""},
		{Config{Timeout: time.Second}, ""},
		{Config{Timeout: 24 * time.Hour}, ""},
		{Config{Timeout: 500 * time.Millisecond}, "m.timeout"},
		{Config{Timeout: -time.Second}, "m.timeout"},
		{Config{Timeout: 25 * time.Hour}, "m.timeout"},
		{Config{TLS: TLS{Mode: "VERIFY_CA"}}, "m.tls.mode"},
		{Config{TLS: TLS{Mode: "required", CertFile: "c.pem"}}, "m.tls"},
		{Config{TLS: TLS{Mode: "required", CertFile: "c.pem", KeyFile: "k.pem"}}, ""},
	} {
		err := tc.c.Validate("m")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error about %s", tc.c, err, tc.want)
		}
	}
}
