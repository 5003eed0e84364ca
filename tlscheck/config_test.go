package tlscheck

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/fielderr"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.Checks = []CheckConfig{{Name: "partners", Targets: []string{"mx.example.net", "mx2.example.net:587"}, Rcpts: []string{"postmaster@example.org"}, Schedule: "@hourly"}}
		return c
	}
	if err := func() error { c := good(); return c.Validate("tlscheck") }(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"concurrency 0", func(c *Config) { c.Concurrency = 0 }, "tlscheck.concurrency: 0 is out of range: expected 1 to 1024"},
		{"concurrency too high", func(c *Config) { c.Concurrency = 5000 }, "tlscheck.concurrency: 5000 is out of range: expected 1 to 1024"},
		{"timeout 0", func(c *Config) { c.Timeout = 0 }, "tlscheck.timeout: 0s is out of range"},
		{"helo with blank", func(c *Config) { c.Helo = "a b" }, "tlscheck.helo:"},
		{"check name", func(c *Config) { c.Checks[0].Name = "Partners!" }, `tlscheck.checks[0].name: "Partners!" is not a valid check name`},
		{"duplicate name", func(c *Config) { c.Checks = append(c.Checks, c.Checks[0]) }, `tlscheck.checks[1].name: "partners" is already used by tlscheck.checks[0]`},
		{"bad target", func(c *Config) { c.Checks[0].Targets[1] = "mx:99999" }, "tlscheck.checks[0].targets[1]: target \"mx:99999\": invalid port"},
		{"bad rcpt", func(c *Config) { c.Checks[0].Rcpts[0] = "postmaster" }, `tlscheck.checks[0].rcpts[0]: "postmaster": expected user@domain`},
		{"nothing to check", func(c *Config) { c.Checks[0].Targets, c.Checks[0].Rcpts = nil, nil }, "tlscheck.checks[0]: a check needs targets or rcpts"},
		{"no schedule", func(c *Config) { c.Checks[0].Schedule = "" }, "tlscheck.checks[0].schedule: empty"},
		{"bad resolver", func(c *Config) { c.Resolver = "unbound.local" }, `tlscheck.resolver: "unbound.local": expected ADDR:PORT`},
		{"relative state dir", func(c *Config) { c.StateDir = "state" }, `tlscheck.state_dir: "state": expected an absolute directory`},
		{"relative report dir", func(c *Config) { c.ReportDir = "tlsrpt" }, `tlscheck.report_dir: "tlsrpt": expected an absolute directory`},
	}
	for _, tc := range tests {
		c := good()
		tc.mod(&c)
		err := c.Validate("tlscheck")
		var fe *fielderr.Error
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want prefix %q", tc.name, err, tc.want)
		}
	}
}

// The struct tags are the contract of docs/cli.md's tlscheck section. The
// loader (internal/config) reads the yaml tag only, so that is the whole tag:
// a second tag naming the key could drift from it unnoticed.
func TestConfigTags(t *testing.T) {
	want := map[string]string{"Policy": "policy", "CAFile": "ca_file", "Timeout": "timeout", "Concurrency": "concurrency", "Helo": "helo", "Checks": "checks",
		"Resolver": "resolver", "StateDir": "state_dir", "ReportDir": "report_dir"} // ops additions for DANE, the MTA-STS cache and serve's TLSRPT metrics
	rt := reflect.TypeOf(Config{})
	if rt.NumField() != len(want) {
		t.Errorf("Config has %d fields, docs/cli.md (plus resolver, state_dir, report_dir) names %d", rt.NumField(), len(want))
	}
	for f, key := range want {
		sf, ok := rt.FieldByName(f)
		if !ok || sf.Tag.Get("yaml") != key || sf.Tag != reflect.StructTag(`yaml:"`+key+`"`) {
			t.Errorf("%s: tags %q", f, sf.Tag)
		}
	}
	if sf, _ := rt.FieldByName("Timeout"); sf.Type != reflect.TypeOf(time.Duration(0)) {
		t.Errorf("timeout is %v", sf.Type)
	}
	ct := reflect.TypeOf(CheckConfig{})
	for f, key := range map[string]string{"Name": "name", "Targets": "targets", "Rcpts": "rcpts", "Schedule": "schedule"} {
		sf, ok := ct.FieldByName(f)
		if !ok || sf.Tag.Get("yaml") != key || sf.Tag != reflect.StructTag(`yaml:"`+key+`"`) {
			t.Errorf("checks.%s: tags %q", f, sf.Tag)
		}
	}
}

func TestWriteTableGolden(t *testing.T) {
	results := []Result{
		{Target: "mx.example.com", Addr: "192.0.2.10:25", Verify: "OK", TLSVersion: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", CipherBits: 256,
			NotAfter: "2026-09-01T00:00:00Z", PolicyKey: "TLS_Srv:example.com", PolicyRule: "VERIFY:128+CA", Verdict: Pass, Reasons: []string{}, Warnings: []string{}},
		{Target: "mx2.example.com", Addr: "192.0.2.11:25", Verify: "OK", TLSVersion: "TLSv1.2", Cipher: "ECDHE-RSA-AES128-GCM-SHA256", CipherBits: 128,
			NotAfter: "2026-06-11T12:00:00Z", PolicyRule: "VERIFY+CA", Verdict: Pass, Warnings: []string{"certificate expires in 10 days (2026-06-11)"}},
		{Target: "old.example.com", Rcpt: "user@example.org", Addr: "192.0.2.12:25", Verify: "FAIL", TLSVersion: "TLSv1", Cipher: "DES-CBC3-SHA", CipherBits: 112,
			NotAfter: "2026-05-01T00:00:00Z", PolicyKey: "TLS_Rcpt:example.org", PolicyRule: "VERIFY", Verdict: Fail,
			Reply: "454 4.7.0 authentication failed", Reasons: []string{"certificate expired on 2026-05-01T00:00:00Z", "authentication failed"}},
		{Target: "down.example.com", Verdict: Fail, Error: "connect: connection refused"},
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, results, testNow); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", buf.Bytes())
	buf.Reset()
	if err := WriteJSON(&buf, results[2:3]); err != nil {
		t.Fatal(err)
	}
	golden(t, "result.json.golden", buf.Bytes())
}

func TestConfigOptions(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t, "Opt")
	ca := writePEM(t, dir, "ca.pem", pki.root.cert)
	pol := dir + "/access"
	writeFile(t, pol, "TLS_Srv:example.com VERIFY\n")
	c := DefaultConfig()
	c.Policy, c.CAFile, c.Helo = pol, ca, "checker.example"
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if o.Policy == nil || o.Probe.Roots == nil || o.Probe.Helo != "checker.example" || o.Concurrency != DefaultConcurrency || o.Probe.Timeout != DefaultTimeout {
		t.Errorf("%+v", o)
	}
	writeFile(t, pol, "TLS_Srv:example.com\n")
	// Config errors (exit 2 in cmd/ops) are ErrConfig; a bad policy is also ErrPolicy.
	if _, err := c.Options(); !errors.Is(err, ErrConfig) || !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), pol+":1:") {
		t.Errorf("bad policy: %v", err)
	}
	c.Policy = dir + "/missing-access"
	if _, err := c.Options(); !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), "open policy: ") {
		t.Errorf("missing policy: %v", err)
	}
	c.Policy, c.CAFile = "", dir+"/missing.pem"
	if _, err := c.Options(); !errors.Is(err, ErrConfig) {
		t.Errorf("missing CA: %v", err)
	}
	// Found problems (exit 1 in cmd/ops) are ErrLint and ErrNoRelay.
	if LintError(nil) != nil || !errors.Is(LintError([]Finding{{}}), ErrLint) {
		t.Error("LintError")
	}
	if RelayError(RelayResult{Relay: true}) != nil || !errors.Is(RelayError(RelayResult{}), ErrNoRelay) {
		t.Error("RelayError")
	}
}

// resolver turns DANE lookups on; state_dir places the MTA-STS cache
// ("none": no cache; empty: the default state directory).
func TestConfigOptionsDANEAndCache(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/srv/state")
	c := DefaultConfig()
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if o.DANE || o.STSOptions.Cache == nil || o.STSOptions.Cache.Dir != "/srv/state/ops/mta-sts" {
		t.Errorf("defaults: dane %v cache %+v", o.DANE, o.STSOptions.Cache)
	}
	c.Resolver, c.StateDir = "127.0.0.1:5300", "none"
	if o, err = c.Options(); err != nil {
		t.Fatal(err)
	}
	if !o.DANE || o.DANEResolver == nil || o.DANEResolver.Addr != "127.0.0.1:5300" || o.STSOptions.Cache != nil {
		t.Errorf("resolver, none: dane %v %+v cache %+v", o.DANE, o.DANEResolver, o.STSOptions.Cache)
	}
	c.StateDir = ""
	if o, err = c.Options(); err != nil || o.STSOptions.Cache == nil || o.STSOptions.Cache.Dir != "/srv/state/ops/mta-sts" {
		t.Errorf("empty state_dir: %+v %v", o.STSOptions.Cache, err)
	}
}
