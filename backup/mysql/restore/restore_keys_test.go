package restore

import (
	"context"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext"
	"golang.org/x/sync/semaphore"
)

func TestDeferKeys(t *testing.T) {
	const sb = "CREATE TABLE `sbtest1` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `k` int(11) NOT NULL DEFAULT 0,\n" +
		"  `c` char(120) NOT NULL DEFAULT '',\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `c` (`c`),\n" +
		"  KEY `k_1` (`k`),\n" +
		"  KEY `kc` (`k`,`c`) COMMENT 'two'\n" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	table, first, add, ok := deferKeys(sb, sqltext.LexState{})
	wantFirst := "CREATE TABLE `sbtest1` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `k` int(11) NOT NULL DEFAULT 0,\n" +
		"  `c` char(120) NOT NULL DEFAULT '',\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `c` (`c`)\n" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	if !ok || table != "`sbtest1`" || first != wantFirst || add != "ADD KEY `k_1` (`k`), ADD KEY `kc` (`k`,`c`) COMMENT 'two'" {
		t.Errorf("deferKeys = %v %q\n%s\n%q", ok, table, first, add)
	}
	for name, create := range map[string]string{
		"no primary key": "CREATE TABLE `t` (\n  `a` int,\n  KEY `a` (`a`)\n) ENGINE=InnoDB",
		"MyISAM":         "CREATE TABLE `t` (\n  `a` int,\n  PRIMARY KEY (`a`),\n  KEY `b` (`a`)\n) ENGINE=MyISAM",
		"foreign key": "CREATE TABLE `t` (\n  `a` int,\n  `p` int,\n  PRIMARY KEY (`a`),\n  KEY `p` (`p`),\n" +
			"  CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `q` (`id`)\n) ENGINE=InnoDB",
		"fulltext":    "CREATE TABLE `t` (\n  `a` int,\n  `s` text,\n  PRIMARY KEY (`a`),\n  KEY `a2` (`a`),\n  FULLTEXT KEY `s` (`s`)\n) ENGINE=InnoDB",
		"partitioned": "CREATE TABLE `t` (\n  `a` int,\n  PRIMARY KEY (`a`),\n  KEY `b` (`a`)\n) ENGINE=InnoDB\n PARTITION BY HASH (`a`)\nPARTITIONS 2",
		"no keys":     "CREATE TABLE `t` (\n  `a` int,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB",
		"not a table": "CREATE VIEW `v` AS SELECT 1",
	} {
		if _, _, _, ok := deferKeys(create, sqltext.LexState{}); ok {
			t.Errorf("%s: keys deferred", name)
		}
	}
	// The key the AUTO_INCREMENT column needs (here its only key) stays.
	auto := "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `n` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `n` (`n`),\n  KEY `x` (`a`,`n`)\n) ENGINE=InnoDB"
	_, first, add, ok = deferKeys(auto, sqltext.LexState{})
	if !ok || add != "ADD KEY `x` (`a`,`n`)" || first != "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `n` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `n` (`n`)\n) ENGINE=InnoDB" {
		t.Errorf("auto-increment key: %v %q\n%s", ok, add, first)
	}
}

func TestEndOfDataMarker(t *testing.T) {
	for _, name := range []string{"sbtest1", "it's", `back\slash`, "new\nline", "ü`x", ""} {
		sp := sqltext.NewSplitter(strings.NewReader("INSERT INTO `a` VALUES (1);\n" + sqltext.EndOfDataSQL(name) + "SET @x = 1;\n"))
		var got []string
		for {
			st, err := sp.Next()
			if err != nil {
				break
			}
			if n, ok := endOfData(st.SQL, sqltext.LexState{}); ok {
				got = append(got, n)
			}
		}
		if len(got) != 1 || got[0] != name {
			t.Errorf("marker of %q read back as %q", name, got)
		}
	}
	for _, s := range []string{
		"SET @ops_end_of_data = 'a', @x = 1",
		"SET @ops_end_of_data = \"a\"",
		"SET @ops_end_of_data = 'a",
		"SET @ops_end_of_data = a",
		"SET @ops_end_of_data := 'a'",
		"SET @other = 'a'",
	} {
		if n, ok := endOfData(s, sqltext.LexState{}); ok {
			t.Errorf("%q taken for the marker of %q", s, n)
		}
	}
}

func TestKeepsKeysDeferred(t *testing.T) {
	pending := []deferredKeys{{table: "db\x00parent"}}
	for s, want := range map[string]bool{
		"/*!40101 SET character_set_client = utf8mb4 */": true,
		"USE `db`":                      true,
		"DROP TABLE IF EXISTS `child`":  true,
		"DROP TABLE IF EXISTS `Parent`": false,
		"CREATE TABLE `child` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n)":                      true,
		"CREATE TABLE `child` (`p` int, CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `other` (`id`))": true,
		"CREATE TABLE `child` (`p` int, CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `parent` (`k`))": false,
		"CREATE TABLE `child` (`p` int, FOREIGN KEY (`p`) REFERENCES `db`.`parent` (`k`))":           false,
		"CREATE TABLE `child` LIKE `other`":                                                          false,
		"CREATE TABLE `child` AS SELECT 1":                                                           false,
		"CREATE DATABASE `db2`":                                                                      true,
		"DROP SEQUENCE IF EXISTS `s`":                                                                true,
		"CREATE SEQUENCE `s` start with 1":                                                           true,
		"DO SETVAL(`s`, 5, 0)":                                                                       true,
		"DROP VIEW IF EXISTS `v`":                                                                    true,
		"CREATE VIEW `v` AS SELECT 1 AS `a`":                                                         true,
		"CREATE VIEW `v` AS SELECT `k` FROM `parent` FORCE INDEX (`k`)":                              false,
		"CREATE TRIGGER `t` BEFORE INSERT ON `parent` FOR EACH ROW SET @a = 1":                       false,
		"ALTER DATABASE `db` CHARACTER SET utf8mb4":                                                  false,
	} {
		if got := keepsKeysDeferred(s, sqltext.LexState{}, pending); got != want {
			t.Errorf("keepsKeysDeferred(%q) = %v, want %v", s, got, want)
		}
	}
}

// A new table goes to a connection whose table has ended, even when the
// connection still loading another table has less queued: given to that
// one, it would wait behind the other table while this one ran dry.
func TestPickGivesANewTableToAFreeConnection(t *testing.T) {
	a, b := &restoreWorker{}, &restoreWorker{}
	e := &restoreExec{workers: []*restoreWorker{a, b}, owner: map[string]*restoreWorker{}, ended: map[string]bool{}}
	item := func(table string) restoreItem { return restoreItem{data: true, table: "db\x00" + table} }
	if e.pick(item("t1")) != a || e.pick(item("t2")) != b {
		t.Fatal("t1 and t2 did not go to a connection each")
	}
	a.pending, b.pending = 4, 2 // t1's last rows queued on a, t2 still loading on b
	e.tableEnded("db\x00t1")
	e.tableEnded("db\x00t1") // a marker seen twice counts once
	if w := e.pick(item("t3")); w != a {
		t.Errorf("t3 went to the connection still loading t2")
	}
	if w := e.pick(item("t1")); w != a {
		t.Errorf("a late row of t1 went to another connection")
	}
	if a.tables != 1 || b.tables != 1 {
		t.Errorf("tables loading: a %d, b %d; want 1 and 1", a.tables, b.tables)
	}
	// Without markers (tables never end), the least busy connection.
	b.pending = 0
	if w := e.pick(item("t4")); w != b {
		t.Errorf("t4 did not go to the least busy connection")
	}
	// Rows of a table loaded alone go to the least busy, whoever owns it.
	a.pending, b.pending = 0, 5
	if w := e.pick(restoreItem{data: true, table: "db\x00t4", asInsert: true}); w != a {
		t.Errorf("rows loaded as INSERTs did not go to the least busy connection")
	}
}

// A statement given to a data connection takes its size from the
// connection's queue room (a statement larger than the room takes all of
// it), so that the SQL waiting on one connection stays within queueBytes.
func TestDispatchTakesQueueRoom(t *testing.T) {
	w := &restoreWorker{jobs: make(chan restoreJob, workerQueue), room: semaphore.NewWeighted(queueBytes)}
	e := &restoreExec{ctx: context.Background(), threads: 2, workers: []*restoreWorker{w},
		owner: map[string]*restoreWorker{}, ended: map[string]bool{}}
	item := func(n int) restoreItem {
		return restoreItem{data: true, table: "db\x00t", st: sqltext.Statement{SQL: strings.Repeat("x", n)}}
	}
	e.run(item(5 << 20))
	e.run(item(5 << 20))
	if len(w.jobs) != 2 {
		t.Fatalf("%d jobs queued, want 2", len(w.jobs))
	}
	if w.room.TryAcquire(queueBytes - 10<<20 + 1) {
		t.Fatal("two queued statements of 5 MiB left more than queueBytes - 10 MiB of room")
	}
	for range 2 {
		j := <-w.jobs
		w.room.Release(j.size)
		e.inflight.Done()
	}
	e.run(item(queueBytes + 1))
	if j := <-w.jobs; j.size != queueBytes || w.room.TryAcquire(1) {
		t.Errorf("a statement larger than the room took %d bytes of it, want all %d", j.size, queueBytes)
	}
}
