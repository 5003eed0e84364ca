package schedule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/secret"
)

const testToken = "s3cret-t0ken-for-tests"

// do sends one GET with an optional Authorization header.
func do(t *testing.T, c *http.Client, url, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func startedEnv(t *testing.T, o Options) *env {
	t.Helper()
	e := newEnv(t, o, Job{Kind: kb, Name: "app", Run: newCounter().run(nil)})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// With a token every endpoint, unknown paths included, answers 401 with a
// Bearer challenge unless the request carries the token.
func TestTokenRequiredOnEveryEndpoint(t *testing.T) {
	t.Parallel()
	e := startedEnv(t, Options{HTTP: HTTPOptions{Token: func() secret.Secret { return secret.New(testToken) }}})
	srv := httptest.NewServer(e.s.Handler())
	defer srv.Close()
	c := srv.Client()
	for path, ok := range map[string]int{"/metrics": 200, "/healthz": 200, "/status.json": 200, "/": 200, "/nope": 404} {
		for _, auth := range []string{"", "Bearer", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken} {
			resp, body := do(t, c, srv.URL+path, auth)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with Authorization %q: %d, want 401", path, auth, resp.StatusCode)
				continue
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer ") {
				t.Errorf("%s with Authorization %q: WWW-Authenticate %q, want a Bearer challenge", path, auth, challenge)
			}
			if wrong := strings.HasPrefix(auth, "Bearer ") && auth != "Bearer "; wrong != strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("%s with Authorization %q: WWW-Authenticate %q", path, auth, challenge)
			}
			if strings.Contains(body, testToken) {
				t.Errorf("%s: the 401 body contains the token", path)
			}
		}
		for _, auth := range []string{"Bearer " + testToken, "bearer " + testToken, "BEARER  " + testToken + " "} {
			if resp, body := do(t, c, srv.URL+path, auth); resp.StatusCode != ok {
				t.Errorf("%s with the token (%q): %d %q, want %d", path, auth, resp.StatusCode, body, ok)
			}
		}
	}
}

// A Token function that returns nothing refuses everything (it never turns
// authentication off).
func TestEmptyTokenRefusesEveryRequest(t *testing.T) {
	t.Parallel()
	e := startedEnv(t, Options{HTTP: HTTPOptions{Token: func() secret.Secret { return secret.Secret{} }}})
	srv := httptest.NewServer(e.s.Handler())
	defer srv.Close()
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if resp, _ := do(t, srv.Client(), srv.URL+"/healthz", auth); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("empty token, Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestStatusPageOff(t *testing.T) {
	t.Parallel()
	e := startedEnv(t, Options{HTTP: HTTPOptions{NoStatusPage: true}})
	srv := httptest.NewServer(e.s.Handler())
	defer srv.Close()
	for path, want := range map[string]int{"/": 404, "/status.json": 404, "/metrics": 200, "/healthz": 200} {
		resp, body := do(t, srv.Client(), srv.URL+path, "")
		if resp.StatusCode != want {
			t.Errorf("status page off: %s = %d, want %d", path, resp.StatusCode, want)
		}
		if want == 404 && strings.Contains(body, "app") {
			t.Errorf("status page off: %s shows the jobs: %q", path, body)
		}
	}
}

// selfSigned returns a certificate for 127.0.0.1 and ::1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ops serve test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Serve with HTTPOptions.TLS speaks HTTPS only: a client that trusts the
// certificate completes a real handshake and sees it; plain HTTP and a
// client that does not trust it get nothing.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	e := newEnv(t, Options{HTTP: HTTPOptions{
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Token: func() secret.Secret { return secret.New(testToken) },
	}}, Job{Kind: kb, Name: "app", Run: newCounter().run(nil)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- e.s.Serve(ctx, ln, nil) }()
	defer func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(wait):
			t.Error("Serve did not return")
		}
	}()
	addr := ln.Addr().String()
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: wait}
	defer trusting.CloseIdleConnections()

	var resp *http.Response
	var body string
	eventually(t, "/healthz over HTTPS", func() bool {
		resp, body = do(t, trusting, "https://"+addr+"/healthz", "Bearer "+testToken)
		return resp.StatusCode == http.StatusOK
	})
	if resp.TLS == nil || !resp.TLS.HandshakeComplete || len(resp.TLS.PeerCertificates) == 0 ||
		!resp.TLS.PeerCertificates[0].Equal(cert.Leaf) {
		t.Fatalf("no TLS handshake with the served certificate: %+v", resp.TLS)
	}
	if strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz over HTTPS = %q", body)
	}
	if resp, _ := do(t, trusting, "https://"+addr+"/metrics", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HTTPS without the token: %d, want 401", resp.StatusCode)
	}

	plain := &http.Client{Timeout: wait}
	if resp, err := plain.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was answered 200 on the HTTPS port")
		}
	}
	untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}, Timeout: wait}
	_, err = untrusting.Get("https://" + addr + "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client that does not trust the certificate: %v, want x509.UnknownAuthorityError", err)
	}
}

// tokenEqual compares whole tokens: none of thousands of near misses (a
// prefix, one more character, one character changed) matches.
func TestTokenEqual(t *testing.T) {
	t.Parallel()
	if !tokenEqual(testToken, testToken) {
		t.Fatal("the token does not match itself")
	}
	misses := []string{"", testToken[:len(testToken)-1], testToken + "x", " " + testToken, strings.ToUpper(testToken)}
	for i := range len(testToken) {
		for c := byte(0x21); c < 0x7f; c++ {
			if c != testToken[i] {
				misses = append(misses, testToken[:i]+string(c)+testToken[i+1:])
			}
		}
	}
	for _, m := range misses {
		if tokenEqual(m, testToken) {
			t.Errorf("%q matches %q", m, testToken)
		}
	}
}
