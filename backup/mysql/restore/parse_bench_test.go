package restore

import (
	"context"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"strings"
	"testing"
)

// BenchmarkParseStream is the restore's parse goroutine (Splitter,
// renamer, guard) over an ops dump of 2000 INSERTs of 100 rows each.
func BenchmarkParseStream(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(sqltext.SandboxLine + sqltext.OpsDumpHead + "\n/*!40101 SET NAMES utf8mb4 */;\nCREATE DATABASE `app`;\nUSE `app`;\n")
	sb.WriteString("CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `s` varchar(200) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n")
	for i := range 2000 {
		sb.WriteString("INSERT INTO `t` (`id`,`s`) VALUES ")
		for j := range 100 {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,'row %d with an escaped \\' quote, a \\\\ backslash and some text to make it longer: %d')", i*100+j, j, i)
		}
		sb.WriteString(";\n")
	}
	script := sb.String()
	b.SetBytes(int64(len(script)))
	b.ResetTimer()
	for range b.N {
		rn, _ := newRenamer(nil)
		ch := make(chan restoreItem, 64)
		perr := make(chan error, 1)
		go parseStream(context.Background(), &countingReader{r: strings.NewReader(script)}, rn, guard.NewGuard(nil, nil), guard.NewDefinerRule(nil), ch, perr)
		for range ch {
		}
		if err := <-perr; err != nil {
			b.Fatal(err)
		}
	}
}
