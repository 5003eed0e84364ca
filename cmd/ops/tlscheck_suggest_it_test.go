package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

func TestTLSSuggestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tlscheck", "suggest"}, "nothing to suggest for"},
		{[]string{"tlscheck", "suggest", "x", "--format", "exim"}, `--format "exim": expected sendmail or postfix`},
		{[]string{"tlscheck", "suggest", "bad host!"}, `target "bad host!"`},
	} {
		code, _, stderr := runOps(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: code %d, stderr %q (want %q)", c.args, code, stderr, c.want)
		}
	}
}

// `ops tlscheck suggest` for the test bed's real Postfix (2525) and sendmail
// (2526), both serving the PKI's localhost certificate: under a name that is
// the CN (localhost) the line pins the name, under other names the issuer;
// Postfix lines per next hop; with the validating resolver, dane-only for
// mx1.dane.test (TLSA 3 1 1 of that key). Unreachable: exit 3.
func TestTLSSuggestCLI(t *testing.T) {
	testenv.RequireIT(t)
	pf := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	sm := testenv.Getenv("OPS_IT_SENDMAIL_ADDR", "127.0.0.1:2526")
	ca := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	resolver := testenv.Getenv("OPS_IT_DANE_RESOLVER", "127.0.0.1:5300")
	pfPort, smPort := pf[strings.LastIndex(pf, ":")+1:], sm[strings.LastIndex(sm, ":")+1:]
	code, out, stderr := runOps(t, "tlscheck", "suggest", "localhost:"+pfPort, "localhost:"+smPort, "pf.suggest.test:"+pfPort, "sm.suggest.test:"+smPort,
		"--resolve", "localhost:"+pfPort+":127.0.0.1", "--resolve", "localhost:"+smPort+":127.0.0.1",
		"--resolve", "pf.suggest.test:"+pfPort+":127.0.0.1", "--resolve", "sm.suggest.test:"+smPort+":127.0.0.1", "--ca", ca)
	t.Logf("sendmail lines:\n%s", out)
	want := regexp.MustCompile(`^TLS_Srv:localhost\tVERIFY:(128|256)\+CN
TLS_Srv:pf\.suggest\.test\tVERIFY:(128|256)\+CI:/CN=Test\+20Root\+20CA
TLS_Srv:sm\.suggest\.test\tVERIFY:(128|256)\+CI:/CN=Test\+20Root\+20CA
$`)
	if code != 0 || !want.MatchString(out) {
		t.Errorf("code %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runOps(t, "tlscheck", "suggest", "--format", "postfix", "localhost:"+pfPort, "sm.suggest.test:"+smPort, "mx1.dane.test:"+pfPort,
		"--resolve", "localhost:"+pfPort+":127.0.0.1", "--resolve", "sm.suggest.test:"+smPort+":127.0.0.1", "--ca", ca, "--resolver", resolver, "-v")
	t.Logf("postfix lines:\n%s", out)
	for _, w := range []string{
		"\n[localhost]:" + pfPort + "\tsecure protocols=>=TLSv1.2\n",
		"\n[sm.suggest.test]:" + smPort + "\tencrypt protocols=>=TLSv1.2\n",
		"\n[mx1.dane.test]:" + pfPort + "\tdane-only protocols=>=TLSv1.2\n",
		"# mx1.dane.test:" + pfPort + ": every connection DANE-authenticated; checked against mx1.dane.test:" + pfPort + " 127.0.0.1\n",
	} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("want %q in (code %d)\n%s%s", w, code, out, stderr)
		}
	}
	// --rcpt: the MX of the domain (mx1.dane.test has no MX: it is its own,
	// RFC 5321 §5.1), found and checked through the validating resolver.
	for format, want := range map[string]string{
		"postfix":  "mx1.dane.test\tdane-only protocols=>=TLSv1.2\n",
		"sendmail": "TLS_Srv:mx1.dane.test\tVERIFY:256+CI:/CN=Test+20Root+20CA\n",
	} {
		code, out, stderr = runOps(t, "tlscheck", "suggest", "--format", format, "--rcpt", "postmaster@mx1.dane.test", "--mx-port", pfPort,
			"--resolver", resolver, "--ca", ca)
		t.Logf("--rcpt, %s:\n%s", format, out)
		if code != 0 || out != want {
			t.Errorf("--rcpt --format %s: code %d, got %q, want %q%s", format, code, out, want, stderr)
		}
	}
	code, out, _ = runOps(t, "tlscheck", "suggest", "closed.suggest.test:1", "--resolve", "closed.suggest.test:1:127.0.0.1")
	if code != 3 || !strings.HasPrefix(out, "# closed.suggest.test: could not check closed.suggest.test:1: ") {
		t.Errorf("unreachable: code %d\n%s", code, out)
	}
}
