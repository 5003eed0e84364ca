package main

import (
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// examples are the Examples: sections of --help, one entry per command path.
// They live here, not in each command's file, so that one test
// (TestEveryCommandHasExamples) checks that every command has some and
// that every line is a real invocation: the command exists and each flag
// it uses is one of that command's flags.
var examples = map[string]string{
	"ops": `  ops backup run                      # back up every configured job, then apply retention
  ops -q backup run --job app         # for cron: silent on success, the error once on failure
  ops config check --connect          # validate the config, then log in to every server it names
  ops --config /etc/ops/ops.yaml inventory --output html --report-file /var/lib/ops/inventory.html`,
	"ops version": `  ops version`,
	"ops config": `  ops config check
  ops config show`,
	"ops config check": `  ops config check                    # ok: /etc/ops/ops.yaml, or FILE:LINE: message and exit 2
  ops config check --connect          # also log in to MySQL (grants), Swift and inventory sources
  ops --config ./ops.yaml config check
  OPS_STORAGE_TARGETS_OFFSITE_CONTAINER=mysql_backups ops config check`,
	"ops config show": `  ops config show                     # effective config; built-in values marked "# default"
  OPS_LOG_LEVEL=debug ops config show`,
	"ops backup": `  ops backup run
  ops backup list --job app
  ops backup verify --job app --restore-test
  ops backup restore --job app --database app=app_copy`,
	"ops backup run": `  ops backup run                      # every job, then retention
  ops backup run --job app --job billing
  ops -q backup run --metrics-file /var/lib/prometheus/node-exporter/ops.prom   # cron
  ops backup run --job app --no-prune`,
	"ops backup list": `  ops backup list
  ops backup list --job app --all     # partial (interrupted) backups too
  ops backup list --output json
  ops backup list --binlog --job app  # archived binlog chunks and recovery windows`,
	"ops backup restore": `  ops backup restore --job app                                  # every database, latest backup
  ops backup restore --job app --backup 20261204T020000Z --database app=app_copy
  ops backup restore --job app --database app=app --replace       # overwrite the live database
  ops backup restore --job app --identity /etc/ops/age.key        # an encrypted backup
  ops backup restore --job app --until "2026-12-04 15:01:00" --database app=app_before   # point in time
  ops backup restore --job app --until-gtid 0-1-4711 --database app=app_before
  ops backup restore --job app --until-position binlog.000042:1337 --replace`,
	"ops backup cat": `  ops backup cat --job app > app.sql                           # the latest backup's SQL, checked, as dumped
  ops backup cat --job app --database shop=shop_copy > shop.sql  # only shop, as shop_copy: mariadb --binary-mode < shop.sql
  ops backup cat --job app --backup 20261204T020000Z --identity /etc/ops/age.key > app.sql`,
	"ops backup verify": `  ops backup verify --job app                                   # checksums of the latest backup
  ops backup verify --job app --backup 20261204T020000Z
  ops backup verify --job app --restore-test                    # restore into scratch databases too`,
	"ops backup prune": `  ops backup prune --dry-run          # what retention would remove
  ops backup prune --job app
  ops backup prune --grace 24h`,
	"ops backup binlog": `  ops backup binlog --job app          # until SIGTERM
  ops backup binlog --job app --once   # up to the server's current position (cron)`,
	"ops tlscheck": `  ops tlscheck mx.example.net                          # VERIFY+CA unless a policy says otherwise
  ops tlscheck --rcpt postmaster@example.org           # every MX of the domain
  ops tlscheck --policy /etc/mail/access mx1.example.net:25 mx2.example.net
  ops tlscheck --require VERIFY:128+CA --timeout 10s --concurrency 8 --output json mx.example.net
  ops tlscheck --resolve mx.example.net:25:192.0.2.10 mx.example.net`,
	"ops tlscheck relay": `  ops tlscheck relay --cert client.pem --policy /etc/mail/access`,
	"ops tlscheck lint":  `  ops tlscheck lint --policy /etc/mail/access`,
	"ops tlscheck suggest": `  ops tlscheck suggest mx.partner.example --rcpt postmaster@partner.example >> /etc/mail/access
  ops tlscheck suggest --format postfix --resolver 127.0.0.1:53 --rcpt postmaster@partner.example -v`,
	"ops tlscheck report": `  ops tlscheck report 'google.com!example.org!1796083200!1796169599!001.json.gz' report.eml
  ops tlscheck report --output json /var/mail/tlsrpt/          # every file of the directory`,
	"ops inventory": `  ops inventory                                  # a table of every source
  ops inventory --source vc --output json
  ops inventory --output csv --kind host
  ops -q inventory --fail-on error --report-file /var/lib/ops/inventory.json --output json   # cron: exit 1 on ERROR findings
  ops inventory --output html --report-file /var/lib/ops/inventory.html`,
	"ops inventory diff": `  ops inventory diff yesterday.json today.json
  ops inventory diff --since 24h                 # the oldest kept snapshot of the last day vs now (inventory.history)
  ops inventory diff --since 168h --output json`,
	"ops inventory check": `  ops inventory check --declared /etc/ops/inventory.yaml`,
	"ops inventory history": `  ops inventory history                          # the kept snapshots, newest first
  ops inventory history --output json`,
	"ops serve": `  ops serve                            # serve.listen, 127.0.0.1:9273
  ops serve --listen 127.0.0.1:9300
  ops serve --dry-run                  # every job with its next five run times`,
}

// addExamples sets the Example of every command of the tree that has one.
func addExamples(root *cobra.Command) {
	walk(root, func(cmd *cobra.Command) {
		if ex, ok := examples[cmd.CommandPath()]; ok && cmd.Example == "" {
			cmd.Example = ex
		}
	})
}

func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, sub := range cmd.Commands() {
		walk(sub, fn)
	}
}

// typedValue shows a string flag bound to a config key with the key's
// type in --help ("--timeout duration", "--concurrency int"), without
// changing how it is parsed: the config loader checks the text.
type typedValue struct {
	pflag.Value
	typ string
}

func (v typedValue) Type() string { return v.typ }

// typeFlags gives every flag bound to a config key the key's type name.
func (c *cli) typeFlags() {
	for _, b := range c.cfgFlags {
		if b.flag.Value.Type() != "string" {
			continue
		}
		t := configKeyType(b.key)
		switch {
		case t == "string" && (strings.HasSuffix(b.key, "_file") || strings.HasSuffix(b.key, ".policy")):
			t = "FILE"
		case t == "string" && strings.HasSuffix(b.key, ".listen"):
			t = "ADDR"
		}
		if t != "" && t != "string" {
			b.flag.Value = typedValue{b.flag.Value, t}
		}
	}
}

// configKeyType is the --help type name of a config key ("" if unknown).
func configKeyType(key string) string {
	t := reflect.TypeFor[Config]()
	for _, seg := range strings.Split(key, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			if strings.Split(f.Tag.Get("yaml"), ",")[0] == seg {
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return ""
		}
	}
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "int"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() == reflect.String:
		return "string"
	}
	return ""
}
