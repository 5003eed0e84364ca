package dump

import (
	"fmt"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"strings"
	"time"
)

// Header is the start of the stream: session settings saved and set like
// mysqldump's (and never MariaDB's sandbox-mode line).
func (d *Dumper) Header() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s\n--\n-- Server version: %s\n", sqltext.SandboxLine, sqltext.OpsDumpHead, sqltext.CommentText(d.Srv.Version))
	fmt.Fprintf(&b, "-- Started: %s\n-- Consistency: %s\n", d.Res.StartedAt.Format(time.RFC3339), d.Res.ConsistencyMode)
	if d.Res.BinlogFile != "" {
		fmt.Fprintf(&b, "-- Binlog position: CHANGE MASTER TO MASTER_LOG_FILE=%s, MASTER_LOG_POS=%d;\n", sqltext.CommentText(sqltext.QuoteString(d.Res.BinlogFile)), d.Res.BinlogPos)
	}
	if d.Res.GTID != "" {
		fmt.Fprintf(&b, "-- GTID: %s\n", sqltext.CommentText(d.Res.GTID))
	}
	b.WriteString(`
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
`)
	return b.String()
}

func Footer() string {
	return `
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

` + sqltext.FooterMarker + "\n"
}
