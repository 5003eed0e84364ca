package dump

import (
	"encoding/hex"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"regexp"
	"strings"
)

// SchemaSQL starts a database's section (layout.go): CREATE DATABASE, USE,
// sequences, tables, placeholder views.
func SchemaSQL(m *schema.DBMeta) string {
	var b strings.Builder
	b.WriteString(databaseHead(m))
	for _, s := range m.Sequences {
		fmt.Fprintf(&b, "\n--\n-- Sequence %s\n--\n\nDROP SEQUENCE IF EXISTS %s;\n", sqltext.CommentIdent(s.Name), sqltext.QuoteIdent(s.Name))
		b.WriteString("/*!40101 SET @saved_cs_client = @@character_set_client */;\n/*!40101 SET character_set_client = utf8mb4 */;\n")
		fmt.Fprintf(&b, "%s;\n", s.CreateSQL)
		b.WriteString("/*!40101 SET character_set_client = @saved_cs_client */;\n")
		if s.NextValue != "" {
			fmt.Fprintf(&b, "DO SETVAL(%s, %s, 0);\n", sqltext.QuoteIdent(s.Name), s.NextValue)
		}
	}
	for _, t := range m.Tables {
		fmt.Fprintf(&b, "\n--\n-- Table structure for %s\n--\n\nDROP TABLE IF EXISTS %s;\n", sqltext.CommentIdent(t.Name), sqltext.QuoteIdent(t.Name))
		b.WriteString("/*!40101 SET @saved_cs_client = @@character_set_client */;\n/*!40101 SET character_set_client = utf8mb4 */;\n")
		fmt.Fprintf(&b, "%s;\n", unqualifySequences(t.CreateSQL, m.Name))
		b.WriteString("/*!40101 SET character_set_client = @saved_cs_client */;\n")
	}
	for _, v := range m.Views {
		fmt.Fprintf(&b, "\n--\n-- Placeholder for view %s (the view replaces it after the data)\n--\n\nDROP VIEW IF EXISTS %s;\n", sqltext.CommentIdent(v.Name), sqltext.QuoteIdent(v.Name))
		b.WriteString("/*!40101 SET @saved_cs_client = @@character_set_client */;\n/*!40101 SET character_set_client = utf8mb4 */;\n")
		fmt.Fprintf(&b, "CREATE VIEW %s AS SELECT %s;\n", sqltext.QuoteIdent(v.Name), v.PlaceholderSelect())
		b.WriteString("/*!40101 SET character_set_client = @saved_cs_client */;\n")
	}
	return b.String()
}

// delimiterFor picks a DELIMITER that does not occur in body.
func delimiterFor(body string) string {
	for _, d := range []string{";;", "$$", "//", ";;;;", "$$$$", "////"} {
		if !strings.Contains(body, d) {
			return d
		}
	}
	return ";;" + strings.Repeat("$", 16) // practically never
}

// objectSQL writes a stored object with its own client character set,
// collation, sql_mode (and time zone for events).
func objectSQL(b *strings.Builder, o *schema.ObjDDL, dbCollation string, executeImmediate bool) {
	fmt.Fprintf(b, "\n--\n-- %s %s\n--\n\nDROP %s IF EXISTS %s;\n", strings.ToLower(o.Kind), sqltext.CommentIdent(o.Name), o.Kind, sqltext.QuoteIdent(o.Name))
	alterDB := o.DBCollation != "" && dbCollation != "" && o.DBCollation != dbCollation && o.Kind != "TRIGGER"
	if alterDB {
		fmt.Fprintf(b, "ALTER DATABASE COLLATE %s;\n", o.DBCollation)
	}
	b.WriteString("SET @saved_cs_client = @@character_set_client, @saved_cs_results = @@character_set_results, @saved_col_connection = @@collation_connection, @saved_sql_mode = @@sql_mode;\n")
	fmt.Fprintf(b, "SET character_set_client = %s, character_set_results = %s, collation_connection = %s, sql_mode = %s;\n",
		o.CSClient, o.CSClient, o.Collation, sqltext.QuoteString(o.SQLMode))
	if o.Kind == "EVENT" && o.TimeZone != "" {
		fmt.Fprintf(b, "SET @saved_time_zone = @@time_zone, time_zone = %s;\n", sqltext.QuoteString(o.TimeZone))
	}
	if executeImmediate && (hasClientComment(o.Body) || sectionLineIn(o.Body)) {
		// The mysql client strips comments from what it sends (unless run
		// with --comments), which would change the stored body. A string
		// literal reaches the server untouched. MariaDB 10.2.3+ only. It
		// also keeps a line of the body that a stock rename would take for
		// a section's USE or CREATE DATABASE line off a line of its own.
		lit := literalIn(o.CSClient, o.Body)
		if nbe, _, err := sqltext.ParseSQLMode(o.SQLMode); err != nil || nbe {
			// under NO_BACKSLASH_ESCAPES the quoted form's \\ would stay two bytes
			lit = "0x" + strings.ToUpper(hex.EncodeToString([]byte(o.Body)))
			if o.CSClient != "" {
				lit = "_" + o.CSClient + " " + lit
			}
		}
		fmt.Fprintf(b, "EXECUTE IMMEDIATE %s;\n", lit)
	} else {
		dl := delimiterFor(o.Body)
		fmt.Fprintf(b, "DELIMITER %s\n%s %s\nDELIMITER ;\n", dl, o.Body, dl)
	}
	if o.Kind == "EVENT" && o.TimeZone != "" {
		b.WriteString("SET time_zone = @saved_time_zone;\n")
	}
	b.WriteString("SET character_set_client = @saved_cs_client, character_set_results = @saved_cs_results, collation_connection = @saved_col_connection, sql_mode = @saved_sql_mode;\n")
	if alterDB {
		fmt.Fprintf(b, "ALTER DATABASE COLLATE %s;\n", dbCollation)
	}
}

func RoutinesSQL(m *schema.DBMeta, ei bool) string {
	if len(m.Routines) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n--\n-- Routines\n--\n")
	for _, o := range m.Routines {
		objectSQL(&b, o, m.Collation, ei)
	}
	return b.String()
}

// ViewsSQL writes views (replacing their placeholders) in the current
// database; use, when not empty, selects it first (cycleUse).
func ViewsSQL(views []*schema.ViewMeta, use string) string {
	if len(views) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n--\n-- Views\n--\n")
	if use != "" {
		b.WriteString("\n" + use + "\n")
	}
	for _, v := range views {
		fmt.Fprintf(&b, "\n--\n-- view %s\n--\n\nDROP VIEW IF EXISTS %s;\n", sqltext.CommentIdent(v.Name), sqltext.QuoteIdent(v.Name))
		b.WriteString("SET @saved_cs_client = @@character_set_client, @saved_cs_results = @@character_set_results, @saved_col_connection = @@collation_connection;\n")
		fmt.Fprintf(&b, "SET character_set_client = %s, character_set_results = %s, collation_connection = %s;\n", v.CSClient, v.CSClient, v.Collation)
		fmt.Fprintf(&b, "%s;\n", v.CreateSQL)
		b.WriteString("SET character_set_client = @saved_cs_client, character_set_results = @saved_cs_results, collation_connection = @saved_col_connection;\n")
	}
	return b.String()
}

func TriggersEventsSQL(m *schema.DBMeta, ei bool) string {
	if len(m.Triggers) == 0 && len(m.Events) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n--\n-- Triggers and events\n--\n")
	for _, o := range m.Triggers {
		t := *o
		t.Body = sqltext.UnqualifyTrigger(o.Body, m.Name)
		objectSQL(&b, &t, m.Collation, ei)
	}
	for _, o := range m.Events {
		objectSQL(&b, o, m.Collation, ei)
	}
	return b.String()
}

// hasClientComment reports whether body has a --, # or /* */ comment outside
// quotes (the mysql client would drop it).
func hasClientComment(body string) bool {
	var q byte
	for i := 0; i < len(body); i++ {
		c := body[i]
		if q != 0 {
			if c == '\\' && q != '`' {
				i++
			} else if c == q {
				q = 0
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			q = c
		case '#':
			return true
		case '-':
			if i+1 < len(body) && body[i+1] == '-' && (i+2 == len(body) || sqltext.IsSpace(body[i+2]) || body[i+2] < 32) {
				return true
			}
		case '/':
			if i+2 < len(body) && body[i+1] == '*' && body[i+2] != '!' && !(body[i+2] == 'M' && i+3 < len(body) && body[i+3] == '!') {
				return true
			}
		}
	}
	return false
}

// literalIn writes s (bytes in charset cs) as a string literal of that
// charset: quoted for ASCII-safe charsets, hex otherwise (multi-byte
// charsets such as sjis can hold a backslash byte inside a character).
func literalIn(cs, s string) string {
	switch strings.ToLower(cs) {
	case "utf8", "utf8mb3", "utf8mb4", "latin1", "latin2", "ascii":
		return "_" + cs + " " + sqltext.QuoteString(s)
	}
	if cs == "" {
		return sqltext.QuoteString(s)
	}
	return "_" + cs + " 0x" + strings.ToUpper(hex.EncodeToString([]byte(s)))
}

var seqQualRE = regexp.MustCompile("(?i)\\b(nextval|lastval)\\(`((?:[^`]|``)+)`\\.")

// unqualifySequences drops the database qualifier MariaDB prints in
// DEFAULT nextval(`db`.`seq`) when db is the table's own database, so that
// a restore under another name refers to its own sequence.
func unqualifySequences(create, db string) string {
	return seqQualRE.ReplaceAllStringFunc(create, func(m string) string {
		sub := seqQualRE.FindStringSubmatch(m)
		if strings.ReplaceAll(sub[2], "``", "`") != db {
			return m
		}
		return sub[1] + "("
	})
}
