package dump

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

func TestCatWholeStreamIsTheDump(t *testing.T) {
	in := planText(t, []*schema.DBMeta{layoutDB("shop"), layoutDB("crm")})
	codec, _ := compress.Zstd.NewCodec(1, 1)
	z, _ := codec.Compress(nil, []byte(in))
	var out bytes.Buffer
	finished := false
	res, err := restore.Cat(context.Background(), restore.RestoreOptions{Compression: compress.Zstd, Finish: func() error { finished = true; return nil }}, bytes.NewReader(z), &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Errorf("cat changed the stream:\n%s\nwant:\n%s", out.String(), in)
	}
	if !finished || res.Statements == 0 {
		t.Errorf("finished %v, %d statements", finished, res.Statements)
	}
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{Compression: compress.Gzip}, bytes.NewReader(z), &out); err == nil {
		t.Errorf("a zstd stream accepted as gzip")
	}
}

// --database shop=shop_copy: only shop's section (with the header and the
// footer), its two naming lines renamed, every other byte as dumped.
func TestCatRenamesOneDatabase(t *testing.T) {
	metas := []*schema.DBMeta{layoutDB("analytics", "select `shop`.`t`.`a` AS `a` from `shop`.`t`"), layoutDB("shop"), layoutDB("zz")}
	in := planText(t, metas)
	var out bytes.Buffer
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{Databases: map[string]string{"shop": "shop_copy"}}, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	start := strings.Index(in, "\n--\n-- Database: ")
	// shop's section comes first; the comment lines after a statement go
	// with it
	shop := in[start:strings.Index(in, "CREATE DATABASE IF NOT EXISTS `analytics`")]
	want := in[:start] + strings.NewReplacer("CREATE DATABASE IF NOT EXISTS `shop` ", "CREATE DATABASE IF NOT EXISTS `shop_copy` ", "USE `shop`;", "USE `shop_copy`;").Replace(shop) + in[strings.Index(in, restore.FooterFirst):]
	if got != want {
		t.Errorf("cat --database shop=shop_copy:\n%s\nwant:\n%s", got, want)
	}
	if n := len(linesNaming(got, "shop")); n != 0 {
		t.Errorf("%d lines still name shop", n)
	}
	if strings.Contains(got, "analytics") || strings.Contains(got, "`zz`") {
		t.Errorf("other databases written")
	}
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{Databases: map[string]string{"nope": "x"}}, strings.NewReader(in), &out); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a database not in the stream: %v", err)
	}
}

func TestCatRefusesTruncatedAndForeignStreams(t *testing.T) {
	in := planText(t, []*schema.DBMeta{layoutDB("shop")})
	var out bytes.Buffer
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{}, strings.NewReader(strings.TrimSuffix(in, sqltext.FooterMarker+"\n")), &out); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated stream: %v", err)
	}
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{}, strings.NewReader("SELECT 1;\n"), &out); err == nil {
		t.Errorf("a stream not written by ops accepted")
	}
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{}, strings.NewReader(strings.Replace(in, "CREATE TABLE `t`", "GRANT ALL ON *.* TO x;\nCREATE TABLE `t`", 1)), &out); err == nil {
		t.Errorf("a GRANT went through")
	}
}

// A stream of the older layout (CREATE DATABASE /*!32312 …*/, a USE per
// phase, trigger headers qualified as their user wrote them) renames
// wholly too; a body naming the renamed database is refused, as Restore
// refuses it next to the original.
func TestCatOlderLayoutAndQualifiedBodies(t *testing.T) {
	in := planText(t, []*schema.DBMeta{layoutDB("shop")})
	old := strings.NewReplacer("CREATE DATABASE IF NOT EXISTS `shop`", "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop`",
		"\n--\n-- Routines\n--\n", "\n--\n-- Routines of `shop`\n--\n\nUSE `shop`;\n",
		"TRIGGER tr BEFORE INSERT ON `t`", "TRIGGER `shop`.tr BEFORE INSERT ON shop.`t`").Replace(in)
	if strings.Count(old, "`shop`") != 5 {
		t.Fatalf("the older stream:\n%s", old)
	}
	var out bytes.Buffer
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{Databases: map[string]string{"shop": "shop_copy"}}, strings.NewReader(old), &out); err != nil {
		t.Fatal(err)
	}
	l := linesNaming(out.String(), "shop")
	if len(l) != 1 || l[0] != "-- Routines of `shop`" || strings.Contains(out.String(), "shop.") || strings.Count(out.String(), "USE `shop_copy`;") != 2 {
		t.Errorf("older stream renamed: lines still naming shop (a comment aside): %q\n%s", l, out.String())
	}
	if !strings.Contains(out.String(), "TRIGGER tr BEFORE INSERT ON `t` FOR EACH ROW") {
		t.Errorf("trigger header not unqualified:\n%s", out.String())
	}
	body := strings.Replace(in, "SELECT COUNT(*) FROM t", "SELECT COUNT(*) FROM shop.t", 1)
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{Databases: map[string]string{"shop": "shop_copy"}}, strings.NewReader(body), &out); err == nil || !strings.Contains(err.Error(), "outside the restore") {
		t.Errorf("a body naming the renamed database: %v", err)
	}
	// as it is, the same body is the user's business
	if _, err := restore.Cat(context.Background(), restore.RestoreOptions{Databases: map[string]string{"shop": "shop"}}, strings.NewReader(body), &out); err != nil {
		t.Errorf("a body naming its own database, not renamed: %v", err)
	}
}
