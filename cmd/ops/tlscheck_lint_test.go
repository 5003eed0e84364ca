package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lint --allow-extensions: ops' extensions pass (exit 0), typos do not.
func TestTLSLintAllowExtensions(t *testing.T) {
	dir := t.TempDir()
	ext := filepath.Join(dir, "ext")
	typo := filepath.Join(dir, "typo")
	os.WriteFile(ext, []byte("TLS_Srv:a.example VERIFY:128+CA\nTLS_Srv:b.example DANE\nCertIssuer:/C=DE/O=CA/CN=Sub+20CA ALTNAMES:p\nSubjAltName:p:relay.example RELAY\n"), 0o644)
	os.WriteFile(typo, []byte("TLS_Srv:a.example VERIFY:128+CAA\nSubjAltName:p:DNS:relay.example RELAY\n"), 0o644)
	if code, out, _ := runOps(t, "tlscheck", "lint", "--policy", ext); code != 1 || !strings.Contains(out, "--allow-extensions if intended") {
		t.Errorf("extensions without the flag: code %d\n%s", code, out)
	}
	if code, out, stderr := runOps(t, "tlscheck", "lint", "--policy", ext, "--allow-extensions"); code != 0 || out != "" {
		t.Errorf("extensions with the flag: code %d\n%s%s", code, out, stderr)
	}
	code, out, _ := runOps(t, "tlscheck", "lint", "--policy", typo, "--allow-extensions")
	if code != 1 || !strings.Contains(out, typo+`:1: TLS_Srv:a.example: unknown extension "CAA"`) || !strings.Contains(out, typo+`:2: `) || !strings.Contains(out, `type prefix "DNS:"`) {
		t.Errorf("typos with the flag: code %d\n%s", code, out)
	}
}
