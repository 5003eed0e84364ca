package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

func TestTLSCheckUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tlscheck"}, "nothing to check"},
		{[]string{"tlscheck", "bad host!"}, `target "bad host!"`},
		{[]string{"tlscheck", "x", "--resolve", "nonsense"}, "--resolve"},
		{[]string{"tlscheck", "x", "--output", "xml"}, `invalid --output "xml"`},
		{[]string{"tlscheck", "x", "--policy", "/nonexistent/access"}, "/nonexistent/access"},
		{[]string{"tlscheck", "relay"}, "--cert FILE is required"},
		{[]string{"tlscheck", "lint"}, "no policy"},
		{[]string{"tlscheck", "x", "--resolver", "unbound"}, `--resolver: tlscheck.resolver: "unbound": expected ADDR:PORT`},
		{[]string{"tlscheck", "x", "--state-dir", "rel"}, `--state-dir: tlscheck.state_dir: "rel": expected an absolute directory`},
	} {
		code, _, stderr := runOps(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: code %d, stderr %q (want %q)", c.args, code, stderr, c.want)
		}
	}
}

// Exit codes of `ops tlscheck` against the real Postfix with STARTTLS.
func TestTLSCheckCLIAgainstPostfix(t *testing.T) {
	testenv.RequireIT(t)
	addr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	ca := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("test CA missing (scripts/services.sh start postfix): %v", err)
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	target := "localhost:" + port
	pin := "localhost:" + port + ":127.0.0.1"

	code, out, stderr := runOps(t, "tlscheck", target, "--resolve", pin, "--ca", ca, "--output", "json")
	if code != 0 {
		t.Fatalf("pass case: code %d\n%s\n%s", code, out, stderr)
	}
	var doc struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	r := doc.Results[0]
	for _, k := range []string{"target", "addr", "verify", "tls_version", "cipher", "cipher_bits", "cert_subject", "cert_issuer",
		"cn_subject", "cn_issuer", "altname_subject", "not_after", "policy_key", "policy_rule", "verdict", "reply", "reasons",
		"key_exchange", "signature_algorithm", "cert_sha256", "spki_sha256", "key_type", "key_bits", "ocsp_stapled", "chain",
		"dane", "dane_records", "mta_sts_mode"} {
		if _, ok := r[k]; !ok {
			t.Errorf("result lacks %q", k)
		}
	}
	if r["verify"] != "OK" || r["verdict"] != "pass" || r["cn_subject"] != "localhost" {
		t.Errorf("result = %v", r)
	}
	// What posttls-finger shows about the session and the key.
	if r["cipher"] != "TLS_AES_256_GCM_SHA384" || r["key_exchange"] != "x25519" || r["key_type"] != "RSA" || r["key_bits"] != 2048.0 {
		t.Errorf("session/key = %v %v %v %v", r["cipher"], r["key_exchange"], r["key_type"], r["key_bits"])
	}
	if chain, _ := r["chain"].([]any); len(chain) != 2 {
		t.Errorf("chain as presented (leaf + CA): %v", r["chain"])
	}
	// The fingerprints are OpenSSL's (as posttls-finger and TLSA records have them).
	crt := filepath.Join(testenv.Getenv("OPS_IT_PKI_DIR", "/var/lib/ops-test/pki"), "server.crt")
	fp, err := exec.Command("openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha256").Output()
	if err != nil {
		t.Fatalf("openssl x509: %v", err)
	}
	_, hexFP, _ := strings.Cut(strings.TrimSpace(string(fp)), "=")
	if want := strings.ToLower(strings.ReplaceAll(hexFP, ":", "")); r["cert_sha256"] != want {
		t.Errorf("cert_sha256 %v, openssl says %s", r["cert_sha256"], want)
	}
	spki, err := exec.Command("sh", "-c", `openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum`, "sh", crt).Output()
	if err != nil {
		t.Fatalf("openssl pkey: %v", err)
	}
	if want, _, _ := strings.Cut(string(spki), " "); r["spki_sha256"] != want {
		t.Errorf("spki_sha256 %v, openssl says %s", r["spki_sha256"], want)
	}
	code, out, _ = runOps(t, "tlscheck", target, "--resolve", pin, "--ca", ca, "-v")
	if code != 0 || !strings.Contains(out, "key exchange x25519") || !strings.Contains(out, "spki sha256:    "+r["spki_sha256"].(string)) {
		t.Errorf("-v: code %d\n%s", code, out)
	}

	policy := filepath.Join(t.TempDir(), "access")
	// Like sendmail (OpenSSL's client), ops negotiates TLS_AES_256_GCM_SHA384
	// with Postfix: VERIFY:256 passes, VERIFY:257 does not.
	os.WriteFile(policy, []byte("TLS_Srv:localhost VERIFY:256\n"), 0o644)
	if code, out, _ = runOps(t, "tlscheck", target, "--resolve", pin, "--ca", ca, "--policy", policy); code != 0 {
		t.Fatalf("VERIFY:256: code %d\n%s", code, out)
	}
	os.WriteFile(policy, []byte("TLS_Srv:localhost VERIFY:257\n"), 0o644)
	code, out, _ = runOps(t, "tlscheck", target, "--resolve", pin, "--ca", ca, "--policy", policy)
	if code != 1 || !strings.Contains(out, "454 4.7.0 encryption too weak 256 less than 257") {
		t.Fatalf("policy failure: code %d\n%s", code, out)
	}
	// Without the test CA the chain does not verify: VERIFY+CA fails.
	code, out, _ = runOps(t, "tlscheck", target, "--resolve", pin)
	if code != 1 || !strings.Contains(out, "authentication failed") {
		t.Fatalf("untrusted chain: code %d\n%s", code, out)
	}
	code, _, stderr = runOps(t, "tlscheck", "127.0.0.1:1", "--timeout", "5s")
	if code != 3 || !strings.Contains(stderr, "nothing could be checked") {
		t.Fatalf("nothing checked: code %d %s", code, stderr)
	}
}
