package tlscheck

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// TestITSendmailDifferential asks the real sendmail 8.17 (unpacked by
// scripts/services.sh start sendmail) for its tls_server verdict on Postfix
// listeners this test sets up, and compares ops' verdict and reply with it
// (services.md §3d). Where ops deliberately differs (the CA extension), the
// difference itself is asserted.
func TestITSendmailDifferential(t *testing.T) {
	_, _ = itSMTP(t)
	sm := testenv.Getenv("OPS_IT_SENDMAIL_BIN", "/var/lib/ops-test/sendmail/root/usr/libexec/sendmail/sendmail")
	cfDir := testenv.Getenv("OPS_IT_SENDMAIL_CF_DIR", "/var/lib/ops-test/sendmail/root/usr/share/sendmail/cf")
	makemap := filepath.Join(filepath.Dir(sm), "makemap")
	for _, f := range []string{sm, makemap, filepath.Join(cfDir, "m4", "cf.m4")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("sendmail not unpacked (run scripts/services.sh start sendmail): %v", err)
		}
	}
	for _, tool := range []string{"m4", "unshare", "openssl", "postconf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	svcDir := testenv.Getenv("OPS_SVC_DIR", "/var/lib/ops-test")
	// sendmail refuses files below world-writable directories such as /tmp.
	dir, err := os.MkdirTemp(svcDir, "tlscheck-sm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("OPS_TLSCHECK_KEEP") == "" {
			os.RemoveAll(dir)
		} else {
			t.Logf("kept %s", dir)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	pki := newPKIAt(t, "DiffCA", now)
	valid := func(s certSpec) certSpec {
		s.notBefore, s.notAfter, s.rsaBits = now.Add(-time.Hour), now.Add(200*24*time.Hour), 2048
		return s
	}
	good := pki.leaf(t, valid(certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, "Diff Mail (Test)"}, atv{oidCN, "mx.it.example"}),
		dns: []string{"mx.it.example"}}))
	wild := pki.leaf(t, valid(certSpec{cn: "*.it.example", dns: []string{"*.it.example"}}))
	expired := pki.leaf(t, certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}, rsaBits: 2048,
		notBefore: now.Add(-100 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)})
	ecdsa := pki.leaf(t, certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}, notBefore: now.Add(-time.Hour), notAfter: now.Add(200 * 24 * time.Hour)})
	ports := addPostfixListeners(t, dir, []servedChain{
		{name: "good", leaf: good, send: []*x509.Certificate{pki.inter.cert}},
		{name: "wild", leaf: wild, send: []*x509.Certificate{pki.inter.cert}},
		{name: "expired", leaf: expired, send: []*x509.Certificate{pki.inter.cert}},
		// TLS 1.2 only: the client's suite order decides (crypto/tls would
		// pick ECDHE-RSA-AES128-GCM-SHA256, OpenSSL AES256).
		{name: "tls12", leaf: good, send: []*x509.Certificate{pki.inter.cert}, opts: []string{"smtpd_tls_protocols=<=TLSv1.2"}},
		{name: "ecdsa12", leaf: ecdsa, send: []*x509.Certificate{pki.inter.cert}, opts: []string{"smtpd_tls_protocols=<=TLSv1.2"}},
	})
	port := map[string]int{"good": ports[0], "wild": ports[1], "expired": ports[2], "tls12": ports[3], "ecdsa12": ports[4]}

	writePEM(t, dir, "ca.crt", pki.root.cert)
	capath := filepath.Join(dir, "capath")
	if err := os.Mkdir(capath, 0o755); err != nil {
		t.Fatal(err)
	}
	writePEM(t, capath, "ca.pem", pki.root.cert)
	if out, err := exec.Command("openssl", "rehash", capath).CombinedOutput(); err != nil {
		t.Fatalf("openssl rehash: %v: %s", err, out)
	}
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, "127.0.0.1 localhost\n127.0.0.1 mx.it.example\n")
	writeFile(t, filepath.Join(dir, "service.switch"), "hosts files\naliases files\n")
	writeFile(t, filepath.Join(dir, "msg"), "Subject: tlscheck differential\n\nhello\n")

	goodIssuer, _ := SendmailDN(pki.inter.cert.RawSubject)
	goodSubject, _ := SendmailDN(good.cert.RawSubject)
	tests := []struct {
		name       string
		server     string
		rule       string
		extra      string // more access map lines
		opsDiffers bool   // ops extension: sendmail accepts, ops judges
		want       string // when set, the verdict both must give
	}{
		{name: "verify-ok", server: "good", rule: "VERIFY"},
		{name: "verify-expired", server: "expired", rule: "VERIFY"},
		{name: "encr-too-weak", server: "good", rule: "ENCR:512"},
		// The 256-bit boundary: sendmail (OpenSSL) negotiates
		// TLS_AES_256_GCM_SHA384 with Postfix; so must ops.
		{name: "verify-256", server: "good", rule: "VERIFY:256", want: Pass},
		{name: "encr-256", server: "good", rule: "ENCR:256", want: Pass},
		{name: "encr-257", server: "good", rule: "ENCR:257", want: Fail},
		{name: "tls12-encr-256", server: "tls12", rule: "ENCR:256", want: Pass},
		{name: "tls12-verify-257", server: "tls12", rule: "VERIFY:257", want: Fail},
		{name: "ecdsa12-verify-256", server: "ecdsa12", rule: "VERIFY:256", want: Pass},
		// CN near misses: case differs (match), prefix or suffix of the CN
		// or the CN a prefix/suffix of the name (no match).
		{name: "cn-case", server: "good", rule: "VERIFY+CN:MX.It.Example", want: Pass},
		{name: "cn-prefix-of-cn", server: "good", rule: "VERIFY+CN:mx.it.exampl", want: Fail},
		{name: "cn-suffix-of-cn", server: "good", rule: "VERIFY+CN:x.it.example", want: Fail},
		{name: "cn-cn-is-prefix", server: "good", rule: "VERIFY+CN:mx.it.example.org", want: Fail},
		{name: "cn-cn-is-suffix", server: "good", rule: "VERIFY+CN:amx.it.example", want: Fail},
		{name: "cn-wildcard-literal", server: "wild", rule: "VERIFY+CN"},
		{name: "cn-name", server: "good", rule: "VERIFY+CN:mx.it.example"},
		{name: "ci-match", server: "good", rule: "VERIFY+CI:" + goodIssuer},
		{name: "ci-mismatch", server: "good", rule: "VERIFY+CI:/C=GB/O=AnotherCA/CN=Another+20Root"},
		{name: "cs-match", server: "good", rule: "VERIFY+CS:" + goodSubject},
		{name: "citag-ok", server: "good", rule: "VERIFY+CITag:DiffCA", extra: "DiffCA:" + goodIssuer + " OK\n"},
		{name: "citag-missing", server: "good", rule: "VERIFY+CITag:NoCA"},
		{name: "temp", server: "expired", rule: "TEMP+VERIFY"}, // PERM+ bounces: sendmail -v prints no reply for it
		{name: "unknown-ext-short-circuits", server: "good", rule: "VERIFY+CX++CI:/C=GB/O=Wrong"},
		{name: "not-a-requirement", server: "expired", rule: "VERIFIED"},
		{name: "ca-extension", server: "wild", rule: "VERIFY+CA:a.b.it.example", opsDiffers: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			access := fmt.Sprintf("TLS_Srv:mx.it.example %s\n%s", tc.rule, tc.extra)
			off := postfixLogSize(t)
			smOK, smReply, smOut := runSendmail(t, sm, makemap, cfDir, dir, tc.name, access, hosts, port[tc.server])
			smSession := postfixTLSSession(t, port[tc.server], off)

			f := probeIT(t, ProbeOptions{Roots: pki.pool, Timeout: 10 * time.Second}, Target{Host: "mx.it.example", Port: port[tc.server]})
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			// What Postfix logged for sendmail's session is what ops negotiated.
			if smSession.version != f.TLSVersion || smSession.cipher != f.Cipher || smSession.bits != strconv.Itoa(f.CipherBits) ||
				(smSession.kex != "" && !strings.EqualFold(smSession.kex, f.KeyExchange)) { // TLS 1.2 lines name no group
				t.Errorf("sendmail negotiated %+v, ops %s %s %d %s", smSession, f.TLSVersion, f.Cipher, f.CipherBits, f.KeyExchange)
			}
			r := Evaluate(f, mustPolicy(t, access), EvalOptions{})
			opsOK := r.Verdict == Pass
			if tc.opsDiffers {
				if !smOK || opsOK {
					t.Errorf("expected sendmail to accept (unknown extension) and ops to refuse: sendmail %v %q, ops %s %q", smOK, smReply, r.Verdict, r.Reply)
				}
				return
			}
			t.Logf("%-26s %-28s sendmail %-5v %-52q %s/%s | ops %-4s %-52q %s/%s", tc.name, tc.rule, smOK, smReply, smSession.version, smSession.cipher,
				r.Verdict, r.Reply, f.TLSVersion, f.Cipher)
			if tc.want != "" && r.Verdict != tc.want {
				t.Errorf("verdict %s, want %s (sendmail and ops must both give it)", r.Verdict, tc.want)
			}
			if smOK != opsOK {
				t.Fatalf("sendmail %v (%q), ops %s (%q %q)\n%s", smOK, smReply, r.Verdict, r.Reply, r.Reasons, smOut)
			}
			if smOK {
				return
			}
			if smReply != r.Reply {
				t.Errorf("reply differs:\n sendmail %q\n ops      %q", smReply, r.Reply)
			}
		})
	}
}

var deferredRE = regexp.MustCompile(`Deferred: (\d{3} \d\.\d\.\d [^\n]*)`)

// runSendmail delivers one message through sendmail with the given access
// map to 127.0.0.1:port as mx.it.example and reports whether tls_server let
// it through, and sendmail's reply when it did not.
func runSendmail(t *testing.T, sm, makemap, cfDir, dir, name, access, hosts string, port int) (bool, string, string) {
	t.Helper()
	cd := filepath.Join(dir, name)
	for _, d := range []string{cd, filepath.Join(cd, "mqueue")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(cd, 0o755)
	writeFile(t, filepath.Join(cd, "access"), access)
	writeFile(t, filepath.Join(cd, "aliases"), "root: root\n")
	mc := strings.NewReplacer("@DIR@", dir, "@CD@", cd, "@PORT@", fmt.Sprint(port), "@PKI@", testenv.Getenv("OPS_IT_PKI_DIR", "/var/lib/ops-test/pki")).Replace(`divert(-1)
divert(0)dnl
VERSIONID(` + "`tlscheck-diff'" + `)dnl
OSTYPE(` + "`linux'" + `)dnl
define(` + "`confDONT_PROBE_INTERFACES', `True'" + `)dnl
define(` + "`confDOMAIN_NAME', `mta.localdomain'" + `)dnl
define(` + "`confSERVICE_SWITCH_FILE', `@DIR@/service.switch'" + `)dnl
define(` + "`confPID_FILE', `@CD@/sendmail.pid'" + `)dnl
define(` + "`QUEUE_DIR', `@CD@/mqueue'" + `)dnl
define(` + "`STATUS_FILE', `@CD@/statistics'" + `)dnl
define(` + "`ALIAS_FILE', `@CD@/aliases'" + `)dnl
define(` + "`confHOST_STATUS_DIRECTORY', `'" + `)dnl
define(` + "`confDEF_USER_ID', `mail:mail'" + `)dnl
define(` + "`confCACERT_PATH', `@DIR@/capath'" + `)dnl
define(` + "`confCACERT', `@DIR@/ca.crt'" + `)dnl
define(` + "`confCLIENT_CERT', `@PKI@/server-chain.crt'" + `)dnl
define(` + "`confCLIENT_KEY', `@PKI@/server.key'" + `)dnl
define(` + "`SMART_HOST', `esmtp:[mx.it.example]'" + `)dnl
define(` + "`ESMTP_MAILER_ARGS', `TCP $h @PORT@'" + `)dnl
FEATURE(` + "`access_db', `hash -T<TMPF> @CD@/access'" + `)dnl
FEATURE(` + "`no_default_msa'" + `)dnl
MAILER(` + "`local'" + `)dnl
MAILER(` + "`smtp'" + `)dnl
`)
	writeFile(t, filepath.Join(cd, "case.mc"), mc)
	cf := filepath.Join(cd, "case.cf")
	m4 := exec.Command("m4", "-D_CF_DIR_="+cfDir+"/", filepath.Join(cfDir, "m4", "cf.m4"), filepath.Join(cd, "case.mc"))
	out, err := m4.Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	writeFile(t, cf, string(out))
	mm := exec.Command(makemap, "-C", cf, "hash", filepath.Join(cd, "access"))
	mm.Stdin = strings.NewReader(access)
	if out, err := mm.CombinedOutput(); err != nil {
		t.Fatalf("makemap: %v: %s", err, out)
	}
	script := `hostname mta.localdomain && mount --bind "$1" /etc/hosts && exec "$2" -C "$3" -v -odi -f root@mta.localdomain root@mail.localhost`
	cmd := exec.Command("unshare", "-u", "-m", "sh", "-c", script, "sh", hosts, sm, cf)
	msg, _ := os.ReadFile(filepath.Join(dir, "msg"))
	cmd.Stdin = bytes.NewReader(msg)
	done := make(chan struct{})
	var combined []byte
	go func() { combined, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("sendmail did not finish in 60 s:\n%s", combined)
	}
	text := string(combined)
	if strings.Contains(text, "Sent (") {
		return true, "", text
	}
	if m := deferredRE.FindStringSubmatch(text); m != nil {
		return false, strings.TrimSpace(m[1]), text
	}
	t.Fatalf("cannot read sendmail's verdict:\n%s", text)
	return false, "", text
}
