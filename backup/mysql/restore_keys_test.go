package mysql

import "testing"

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
	table, first, add, ok := deferKeys(sb)
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
		if _, _, _, ok := deferKeys(create); ok {
			t.Errorf("%s: keys deferred", name)
		}
	}
	// The key the AUTO_INCREMENT column needs (here its only key) stays.
	auto := "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `n` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `n` (`n`),\n  KEY `x` (`a`,`n`)\n) ENGINE=InnoDB"
	_, first, add, ok = deferKeys(auto)
	if !ok || add != "ADD KEY `x` (`a`,`n`)" || first != "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `n` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `n` (`n`)\n) ENGINE=InnoDB" {
		t.Errorf("auto-increment key: %v %q\n%s", ok, add, first)
	}
}
