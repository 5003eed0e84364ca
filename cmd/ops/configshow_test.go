package main

import (
	"strings"
	"testing"
)

// Setting some keep_* makes the others 0 (not their defaults), in the file
// and through OPS_* variables; config show marks defaults and the zeroed keys.
func TestRetentionSetReplacesDefaults(t *testing.T) {
	cases := []struct {
		name, retention, env string
		want                 []string
	}{
		{"daily only", "      retention: {keep_daily: 3}\n", "",
			[]string{"keep_last: 0 # not set", "keep_daily: 3\n", "keep_weekly: 0 # not set", "keep_monthly: 0 # not set"}},
		{"none set", "", "",
			[]string{"keep_last: 7 # default", "keep_daily: 7 # default", "keep_weekly: 4 # default", "keep_monthly: 12 # default"}},
		{"env", "", "OPS_BACKUP_JOBS_0_RETENTION_KEEP_WEEKLY",
			[]string{"keep_last: 0 # not set", "keep_daily: 0 # not set", "keep_weekly: 9\n", "keep_monthly: 0 # not set"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(tc.env, "9")
			}
			cfg := writeConfig(t, "backup:\n  jobs:\n    - name: app\n      threads: 3\n"+tc.retention)
			code, out, stderr := runOps(t, "--config", cfg, "config", "show")
			if code != 0 {
				t.Fatalf("code %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("config show lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(out, "threads: 3\n") || !strings.Contains(out, "compression: zstd # default\n") ||
				!strings.Contains(out, "name: app\n") {
				t.Errorf("defaults marked wrong:\n%s", out)
			}
		})
	}
}

// config show: lists on one line, marked when default; the webhook URL
// (set by a variable here) redacted and not marked.
func TestConfigShowNotifyAndLists(t *testing.T) {
	t.Setenv("OPS_NOTIFY_WEBHOOK_URL", "https://hc-ping.com/secret-uuid")
	cfg := writeConfig(t, "backup:\n  jobs:\n    - name: app\n      databases: [a, b]\n")
	code, out, stderr := runOps(t, "--config", cfg, "config", "show")
	if code != 0 || strings.Contains(out, "secret-uuid") {
		t.Fatalf("code %d: %s\n%s", code, stderr, out)
	}
	for _, w := range []string{"url: https://hc-ping.com/***\n", `"on": [failure] # default`, "databases: [a, b]\n", "exclude_tables: [] # default\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("config show lacks %q:\n%s", w, out)
		}
	}
}

// An s3 target: its secret from OPS_STORAGE_TARGETS_<NAME>_SECRET_ACCESS_KEY
// is used but never shown, and its inherited retry budget is shown; a bad
// bucket name and two secrets at once are config errors naming the line.
func TestConfigShowS3Target(t *testing.T) {
	const secretValue = "s3-secret-never-shown"
	t.Setenv("OPS_STORAGE_TARGETS_COS_SECRET_ACCESS_KEY", secretValue)
	body := "storage:\n  targets:\n    cos:\n      type: s3\n      bucket: mysql-backups\n      access_key_id: AKID\n      path_style: true\n"
	code, out, stderr := runOps(t, "--config", writeConfig(t, body), "config", "show")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, w := range []string{"type: s3\n", "secret_access_key: '***'", "retry_budget: 5m0s # storage.retry_budget", "path_style: true\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("config show lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out+stderr, secretValue) {
		t.Errorf("config show prints the secret:\n%s", out)
	}
	for _, c := range []struct{ body, want string }{
		{strings.Replace(body, "mysql-backups", "MySQL_Backups", 1), ":5: storage.targets.cos.bucket: \"MySQL_Backups\": expected 3 to 63 lowercase letters"},
		{body + "      secret_access_key_file: /etc/ops/s3.secret\n", ":8: storage.targets.cos.secret_access_key_file: both secret_access_key and secret_access_key_file are set"},
	} {
		code, _, stderr := runOps(t, "--config", writeConfig(t, c.body), "config", "check")
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("config check = %d %q, want 2 and %q", code, stderr, c.want)
		}
	}
	// Written in the config file itself: refused, pointing at the line.
	t.Setenv("OPS_STORAGE_TARGETS_COS_SECRET_ACCESS_KEY", "")
	cfg := writeConfig(t, body+"      secret_access_key: "+secretValue+"\n")
	code, out, stderr = runOps(t, "--config", cfg, "config", "check")
	want := cfg + ":8: storage.targets.cos.secret_access_key: the secret is written in the config file: put it in secret_access_key_file (mode 0600) or in OPS_STORAGE_TARGETS_COS_SECRET_ACCESS_KEY"
	if code != 2 || !strings.Contains(stderr, want) || strings.Contains(out+stderr, secretValue) {
		t.Errorf("a secret in the file: config check = %d %q, want 2 and %q, without the secret", code, stderr, want)
	}
}
