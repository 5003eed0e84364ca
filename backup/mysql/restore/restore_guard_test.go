package restore

import (
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// Statements the dumper writes (header, footer, schema, data, objects) are
// accepted for a restore of database app (renamed or not).
func TestGuardAcceptsWhatTheDumperWrites(t *testing.T) {
	m := &schema.DBMeta{Name: "app", CreateSQL: "CREATE DATABASE `app` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci */",
		Collation: "utf8mb4_unicode_ci",
		Tables: []*schema.TableMeta{{Name: "t", CreateSQL: "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `c` varchar(10) DEFAULT 'x.y' COMMENT 'GRANT',\n" +
			"  `s` bigint(20) DEFAULT nextval(`app`.`s`),\n  PRIMARY KEY (`id`),\n  CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `u` (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"}},
		Sequences: []*schema.SeqMeta{{Name: "s", CreateSQL: "CREATE SEQUENCE `s` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB", NextValue: "1001"}},
		Views: []*schema.ViewMeta{{Name: "v", Columns: []string{"id", "c"}, CSClient: "utf8mb4", Collation: "utf8mb4_general_ci",
			CreateSQL: "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select `t`.`id` AS `id`,`t`.`c` AS `c` from `t` where `t`.`c` <> 'mysql.user'"}},
		Routines: []*schema.ObjDDL{
			{Kind: "PROCEDURE", Name: "p", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci", SQLMode: "STRICT_TRANS_TABLES",
				Body: "CREATE DEFINER=`root`@`localhost` PROCEDURE `p`(IN x INT)\nBEGIN\n  SELECT COUNT(*) INTO @n FROM t WHERE id > x;\n  UPDATE t SET c = 'y' WHERE id = x;\nEND"},
			{Kind: "FUNCTION", Name: "f", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci", DBCollation: "latin1_swedish_ci",
				Body: "CREATE DEFINER=`root`@`localhost` FUNCTION `f`() RETURNS int(11)\n    DETERMINISTIC\nRETURN 1 -- one"},
		},
		Triggers: []*schema.ObjDDL{{Kind: "TRIGGER", Name: "tr", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci",
			Body: "CREATE DEFINER=`root`@`localhost` TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.c = CONCAT(NEW.c, '!')"}},
		Events: []*schema.ObjDDL{{Kind: "EVENT", Name: "e", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci", TimeZone: "SYSTEM",
			Body: "CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' ON COMPLETION NOT PRESERVE DISABLE DO DELETE FROM t WHERE id < 0"}},
	}
	d := &dump.Dumper{Srv: conn.ServerInfo{Version: "10.11.19-MariaDB"}, Res: &dump.DumpResult{BinlogFile: "bin.000001", BinlogPos: 4, GTID: "0-1-1"}}
	script := d.Header() + dump.SchemaSQL(m) + "INSERT INTO `t` (`id`,`c`) VALUES (1,'a'),(2,NULL),(3,'x\\')\\nGRANT; SELECT 1'),(-4,0x00FF),(5,1.5e-3);\n" +
		dump.RoutinesSQL(m, true) + dump.ViewsSQL(m.Views, "") + dump.TriggersEventsSQL(m, true) + dump.RoutinesSQL(m, false) + dump.TriggersEventsSQL(m, false) + dump.Footer()
	for _, mapping := range []map[string]string{nil, {"app": "app_copy"}} {
		rn, _ := newRenamer(mapping)
		g := guard.NewGuard(mapping, []string{"mysql", "other", "app"})
		sp := sqltext.NewSplitter(strings.NewReader(script))
		n := 0
		for {
			st, err := sp.Next()
			if err != nil {
				break
			}
			n++
			sqlText := strings.TrimPrefix(st.SQL, strings.TrimSuffix(sqltext.SandboxLine, "\n"))
			sqlText, keep, err := rn.rewrite(sqlText, sqltext.LexState{})
			if err != nil || !keep {
				t.Fatalf("%v: rewrite %q: keep %v, %v", mapping, st.SQL, keep, err)
			}
			if _, err := g.Check(sqlText); err != nil {
				t.Errorf("%v: statement %d refused: %v\n%s", mapping, n, err, sqlText)
			}
		}
		if n < 40 {
			t.Fatalf("only %d statements", n)
		}
	}
}
