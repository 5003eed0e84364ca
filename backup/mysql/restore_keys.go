package mysql

import (
	"strings"
)

// Secondary indexes after the data (myloader's optimize-keys): a restore
// creates an InnoDB table of an ops dump without its plain secondary
// indexes, loads the rows, then adds the indexes in one ALTER TABLE per
// table, which InnoDB builds by sorting instead of maintaining each index
// row by row. Only what leaves the table exactly as dumped is deferred:
// plain KEYs of a table with a primary key, no foreign keys, no FULLTEXT
// or SPATIAL index (their order in SHOW CREATE TABLE would change) and no
// partitioning; a key that the AUTO_INCREMENT column needs stays.

// deferKeys splits an ops dump's CREATE TABLE into the statement to run
// first and the ALTER TABLE (without its table name: "ADD KEY …, ADD KEY …")
// to run after the data; ok is false when nothing is deferred.
func deferKeys(create string) (table, first, addKeys string, ok bool) {
	lines := strings.Split(create, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "CREATE TABLE `") || !strings.HasSuffix(lines[0], "` (") {
		return "", "", "", false
	}
	table = lines[0][len("CREATE TABLE ") : len(lines[0])-2]
	last := len(lines) - 1
	for last > 0 && !strings.HasPrefix(lines[last], ")") {
		last--
	}
	if last < 2 {
		return "", "", "", false
	}
	trailer := strings.Join(lines[last:], "\n")
	if !strings.Contains(trailer, "ENGINE=InnoDB") || strings.Contains(trailer, "PARTITION") {
		return "", "", "", false
	}
	body := lines[1:last]
	autoCol := ""
	hasPK := false
	for _, l := range body {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "PRIMARY KEY "):
			hasPK = true
		case strings.HasPrefix(t, "FULLTEXT "), strings.HasPrefix(t, "SPATIAL "), strings.Contains(t, "FOREIGN KEY"):
			return "", "", "", false
		case strings.HasPrefix(t, "`") && strings.Contains(t, " AUTO_INCREMENT"):
			if end := strings.Index(t[1:], "` "); end >= 0 {
				autoCol = t[:end+2]
			}
		}
	}
	if !hasPK {
		return "", "", "", false
	}
	var keep, keys []string
	for _, l := range body {
		t := strings.TrimSuffix(strings.TrimSpace(l), ",")
		if strings.HasPrefix(t, "KEY `") && !(autoCol != "" && strings.Contains(t, "("+autoCol)) {
			keys = append(keys, "ADD "+t)
			continue
		}
		keep = append(keep, l)
	}
	if len(keys) == 0 {
		return "", "", "", false
	}
	for i := range keep {
		keep[i] = strings.TrimSuffix(keep[i], ",")
		if i < len(keep)-1 {
			keep[i] += ","
		}
	}
	first = lines[0] + "\n" + strings.Join(keep, "\n") + "\n" + trailer
	return table, first, strings.Join(keys, ", "), true
}
