package guard

import (
	"errors"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// Everything a tampered stream could try is refused before it is sent,
// with an excerpt that carries no row data.
func TestGuardRefuses(t *testing.T) {
	cases := map[string]string{
		"grant":             "GRANT ALL ON *.* TO 'x'@'%'",
		"create user":       "CREATE USER x IDENTIFIED BY 'pw'",
		"alter user":        "ALTER USER root@localhost IDENTIFIED BY 'x'",
		"set global":        "SET GLOBAL general_log = 1",
		"set @@global":      "SET @@global.read_only = 0",
		"set password":      "SET PASSWORD FOR root@localhost = PASSWORD('x')",
		"set expression":    "SET @a = (SELECT authentication_string FROM mysql.user LIMIT 1)",
		"set function":      "SET @a = LOAD_FILE('/etc/shadow')",
		"set other var":     "SET sql_log_bin = 0",
		"outfile":           "SELECT * FROM t INTO OUTFILE '/tmp/x'",
		"load data":         "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
		"client command":    `\! touch /tmp/x`,
		"system":            "SYSTEM touch /tmp/x",
		"drop elsewhere":    "DROP TABLE IF EXISTS `other`.`t`",
		"drop database":     "DROP DATABASE `other`",
		"create elsewhere":  "CREATE TABLE `other`.`t` (id int)",
		"create in mysql":   "CREATE TABLE mysql.t (id int)",
		"create database":   "CREATE DATABASE `mysql`",
		"create other db":   "CREATE DATABASE IF NOT EXISTS `other`",
		"use mysql":         "USE mysql",
		"use other":         "USE `other`",
		"insert elsewhere":  "INSERT INTO `mysql`.`global_priv` VALUES ('%','x','{}')",
		"insert subquery":   "INSERT INTO `t` VALUES ((SELECT authentication_string FROM mysql.user LIMIT 1))",
		"insert function":   "INSERT INTO `t` VALUES (LOAD_FILE('/etc/passwd'))",
		"insert variable":   "INSERT INTO `t` VALUES (@@hostname)",
		"insert select":     "INSERT INTO `t` SELECT * FROM mysql.user",
		"view on mysql":     "CREATE VIEW `v` AS SELECT * FROM mysql.user",
		"view on other":     "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select `a`.`x` from `other`.`a`",
		"data directory":    "CREATE TABLE `t` (id int) DATA DIRECTORY='/etc'",
		"connect engine":    "CREATE TABLE `t` (line varchar(200)) ENGINE=CONNECT TABLE_TYPE=DOS FILE_NAME='/etc/passwd'",
		"granting event":    "CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 MINUTE DO GRANT ALL ON *.* TO x",
		"granting proc":     "CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() BEGIN GRANT ALL ON *.* TO x; END",
		"proc outfile":      "CREATE PROCEDURE `p`() SELECT 1 INTO OUTFILE '/tmp/x'",
		"execute grant":     "EXECUTE IMMEDIATE 'GRANT ALL ON *.* TO x'",
		"execute hex grant": "EXECUTE IMMEDIATE _utf8mb4 0x4752414E5420414C4C204F4E202A2E2A20544F2078",
		"udf":               "CREATE FUNCTION sys_exec RETURNS INT SONAME 'lib_mysqludf_sys.so'",
		"install plugin":    "INSTALL PLUGIN x SONAME 'x.so'",
		"lock tables":       "LOCK TABLES `t` WRITE",
		"select":            "SELECT * FROM mysql.user",
		"flush":             "FLUSH PRIVILEGES",
		"change master":     "CHANGE MASTER TO MASTER_HOST='evil'",
		"trigger elsewhere": "CREATE TRIGGER `tr` BEFORE INSERT ON `other`.`t` FOR EACH ROW SET @a = 1",
		"call elsewhere":    "CREATE PROCEDURE `p`() CALL mysql.evil()",
		"alter elsewhere":   "ALTER TABLE `other`.`t` ADD COLUMN x int",
	}
	for name, stmt := range cases {
		g := NewGuard(map[string]string{"app": "app"}, []string{"mysql", "other", "app"})
		_, err := g.Check(stmt)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %q accepted (%v)", name, stmt, err)
		}
	}
	g := NewGuard(map[string]string{"app": "app"}, nil)
	_, err := g.Check("INSERT INTO `t` VALUES ('secret row data', SLEEP(5))")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("SLEEP in rows accepted: %v", err)
	}
	if ex := sqltext.Excerpt("INSERT INTO `t` VALUES ('secret row data', SLEEP(5))"); strings.Contains(ex, "secret") {
		t.Errorf("excerpt shows row data: %q", ex)
	}
	if ex := sqltext.Excerpt("CREATE TABLE `t` (c varchar(9) DEFAULT 'secret')"); strings.Contains(ex, "secret") {
		t.Errorf("excerpt shows a string literal: %q", ex)
	}
}

// Without a mapping the stream's own databases are the targets, but never
// a system database, and a database outside them is still refused.
func TestGuardOpenMode(t *testing.T) {
	g := NewGuard(nil, []string{"other"})
	if _, err := g.Check("USE `app`"); !errors.Is(err, ErrRefused) {
		t.Errorf("USE before CREATE DATABASE accepted: %v", err)
	}
	if db, err := g.Check("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app` /*!40100 DEFAULT CHARACTER SET utf8mb4 */"); err != nil || db != "app" {
		t.Fatalf("CREATE DATABASE app: %q, %v", db, err)
	}
	for _, ok := range []string{"USE `app`", "DROP TABLE IF EXISTS `app`.`t`", "CREATE TABLE `t` (id int) ENGINE=InnoDB"} {
		if _, err := g.Check(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"CREATE DATABASE `mysql`", "CREATE DATABASE `SYS`", "DROP TABLE IF EXISTS `other`.`t`", "CREATE VIEW v AS SELECT * FROM other.t"} {
		if _, err := g.Check(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

// The guard never panics on any statement, an accepted statement holds no
// forbidden word sequence outside strings, and a comment line never holds a
// line break.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		"GRANT ALL ON *.* TO x", "INSERT INTO `t` VALUES (1,'a\\'b'),(NULL,0x0F)", "SET @a = @@character_set_client, sql_mode = ''",
		"/*!40101 SET NAMES utf8mb4 */", "CREATE DEFINER=`r`@`h` PROCEDURE `p`() BEGIN SELECT 1; END",
		"EXECUTE IMMEDIATE _utf8mb4 'CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a=1'",
		"CREATE TABLE `t` (id int) ENGINE=InnoDB", "USE `app`", "DROP TABLE IF EXISTS `app`.`t`", "\\! id",
		"INSERT INTO `t` VALUES ((SELECT 1))", "CREATE VIEW v AS SELECT * FROM mysql.user", "/*M!999999\\- enable the sandbox mode */",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := NewGuard(map[string]string{"app": "app"}, []string{"mysql", "other"})
		_, err := g.Check(s)
		if err == nil && !sqltext.IsInsert(s) {
			toks, terr := sqltext.Tokenize(s)
			if terr != nil {
				t.Fatalf("accepted an untokenizable statement %q: %v", s, terr)
			}
			for i := range toks {
				for _, seq := range forbidden {
					if MatchWords(toks[i:], seq) {
						t.Fatalf("accepted %q holding %v", s, seq)
					}
				}
				// a qualifier (not the middle of a.b.c) naming another database
				if toks[i].Kind == sqltext.TWord && (toks[i].Is("mysql", "other")) && i+1 < len(toks) && toks[i+1].Text == "." && (i == 0 || toks[i-1].Text != ".") {
					t.Fatalf("accepted %q naming another database", s)
				}
			}
		}
		if strings.ContainsAny(sqltext.CommentText(s), "\n\r") {
			t.Fatalf("commentText(%q) holds a line break", s)
		}
		_ = sqltext.Excerpt(s)
	})
}
