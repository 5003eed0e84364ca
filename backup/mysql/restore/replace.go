package restore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
)

// --replace (RestoreOptions.Replace) never writes into the database it
// replaces before the new copy is complete and verified:
//
//  1. A target that exists and holds objects is built under a temporary
//     name, <dst>__ops_new_<id> (the renamer writes the stream's CREATE
//     DATABASE and USE of it under that name; the guard refuses any
//     statement naming dst itself).
//  2. Only when every statement ran, the stream was complete and
//     RestoreOptions.Finish (the stored stream's SHA-256) returned nil, the
//     swap runs. It first reads both databases' views, routines, triggers
//     and events (SHOW CREATE …, as the dumper does) and their default
//     character set, creates a holding database <dst>__ops_old_<id>, drops
//     the triggers of both (the server refuses to move a table with
//     triggers to another database), then moves every table of dst to the
//     holding database and every table of the new copy to dst in ONE
//     RENAME TABLE statement, which the server applies atomically. It then
//     drops dst's old views, routines and events and creates the new copy's
//     in dst (views cannot be moved across databases, routines cannot be
//     renamed; all of them are read relative to their own database, so
//     their definitions follow), and sets dst's default character set and
//     collation to the backup's. Last it drops the holding database and
//     the temporary one.
//  3. On any failure before the swap (a parse error, a refused statement,
//     a server error, a truncated stream, a hash mismatch, cancellation)
//     dst was never touched and the temporary database is dropped (kept
//     with KeepPartial, and the log names it). On a failure during the
//     swap, the swap is undone: the non-table objects now in dst are
//     dropped, the tables are moved back with one RENAME TABLE, and the
//     original's objects are created again from what was read before the
//     swap; the error reports both the failure and the undo's outcome.
//
// Between the trigger drop and the end of the swap (logged as swap)
// writes to dst by other sessions do not fire its triggers; events lose their LAST_EXECUTED. The restore account needs
// the restore grants on the temporary and holding databases too (README:
// `shop\_\_ops\_%`), and must be able to read the original's definitions
// (SHOW VIEW, SELECT on mysql.proc, TRIGGER, EVENT).

// replaceName is the temporary (kind "new") or holding (kind "old") name
// for dst: dst cut to fit MariaDB's 64-character identifiers, then
// __ops_<kind>_<id>.
func replaceName(dst, kind, id string) string {
	suffix := "__ops_" + kind + "_" + id
	r := []rune(dst)
	if n := 64 - len([]rune(suffix)); len(r) > n {
		r = r[:n]
	}
	return string(r) + suffix
}

// replacement is one target rebuilt under a temporary name.
type replacement struct {
	dst, tmp, hold string
}

// replacer decides, for each target database, whether it is rebuilt under
// a temporary name, and swaps the rebuilt ones in.
type replacer struct {
	tg   *targets
	id   string
	mu   sync.Mutex // alias runs on the parsing goroutine
	list []replacement
}

func newReplacer(tg *targets) *replacer {
	return &replacer{tg: tg, id: conn.ScratchTag()}
}

// alias is the renamer's: a target that exists and is not empty is
// written under a temporary name (with Replace; without it, state refuses
// it).
func (p *replacer) alias(ctx context.Context) func(dst string) (string, error) {
	return func(dst string) (string, error) {
		exists, n, err := p.tg.state(ctx, dst)
		if err != nil {
			return "", err
		}
		if !exists || n == 0 {
			return dst, nil
		}
		r := replacement{dst: dst, tmp: replaceName(dst, "new", p.id), hold: replaceName(dst, "old", p.id)}
		for _, name := range []string{r.tmp, r.hold} {
			if e, _, err := p.tg.objects(ctx, name); err != nil {
				return "", err
			} else if e {
				return "", fmt.Errorf("restore: --replace: database %s exists already: refusing to use it as a temporary name: %w", sqltext.QuoteIdent(name), guard.ErrRefused)
			}
		}
		p.mu.Lock()
		p.list = append(p.list, r)
		p.mu.Unlock()
		return r.tmp, nil
	}
}

func (p *replacer) replacements() []replacement {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]replacement(nil), p.list...)
}

// dbState is what the swap reads of a database before changing anything.
type dbState struct {
	meta          *schema.DBMeta
	charset, coll string
	tables        []string // base tables and sequences
}

func readState(ctx context.Context, dbConn *sql.Conn, name string) (*dbState, error) {
	m, err := schema.ReadDatabase(ctx, dbConn, name, func(string, string) bool { return false })
	if err != nil {
		return nil, fmt.Errorf("reading database %s: %w", sqltext.QuoteIdent(name), err)
	}
	s := &dbState{meta: m}
	if err := dbConn.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&s.charset, &s.coll); err != nil {
		return nil, fmt.Errorf("reading database %s: %w", sqltext.QuoteIdent(name), err)
	}
	for _, t := range m.Tables {
		s.tables = append(s.tables, t.Name)
	}
	for _, q := range m.Sequences {
		s.tables = append(s.tables, q.Name)
	}
	return s, nil
}

// swap replaces every rebuilt target by its new copy (see the comment at
// the top of this file). It runs to its end (or its undo) even when ctx
// is cancelled meanwhile.
func (p *replacer) swap(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	list := p.replacements()
	if len(list) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	ctx = context.WithoutCancel(ctx)
	dbConn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore: --replace: open connection: %w", err)
	}
	defer dbConn.Close()
	if _, err := dbConn.ExecContext(ctx, "SET SESSION sql_mode = '', time_zone = '+00:00', character_set_results = utf8mb4"); err != nil {
		return fmt.Errorf("restore: --replace: session setup: %w", err)
	}
	orig := make([]*dbState, len(list))
	neu := make([]*dbState, len(list))
	for i, r := range list {
		if orig[i], err = readState(ctx, dbConn, r.dst); err != nil {
			return fmt.Errorf("restore: --replace: before the swap (nothing was changed): %w", err)
		}
		if neu[i], err = readState(ctx, dbConn, r.tmp); err != nil {
			return fmt.Errorf("restore: --replace: before the swap (nothing was changed): %w", err)
		}
	}
	var holds []string
	for _, r := range list {
		if _, err := dbConn.ExecContext(ctx, "CREATE DATABASE "+sqltext.QuoteIdent(r.hold)); err != nil {
			for _, h := range holds {
				_, _ = dbConn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(h))
			}
			return fmt.Errorf("restore: --replace: creating the holding database %s (nothing was changed): %w", sqltext.QuoteIdent(r.hold), err)
		}
		holds = append(holds, r.hold)
	}
	sw := &swapRun{conn: dbConn, list: list, orig: orig, neu: neu}
	started := time.Now()
	if err := sw.run(ctx); err != nil {
		undoErr := sw.undo(ctx)
		for _, r := range list {
			sw.dropIfEmpty(ctx, log, r.hold)
		}
		if undoErr != nil {
			return fmt.Errorf("restore: --replace: the swap failed (%w) and so did its undo: %v: the original tables are in %s", err, undoErr, strings.Join(holdNames(list), ", "))
		}
		return fmt.Errorf("restore: --replace: the swap failed and was undone (the original databases are as they were): %w", err)
	}
	// From the triggers' drop to the last object created: the time other
	// sessions' writes to dst fire no trigger.
	gap := time.Since(started)
	for i, r := range list {
		for _, name := range []string{r.hold, r.tmp} {
			if _, err := dbConn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(name)); err != nil {
				log.Error("restore: --replace: the swap is done but dropping a leftover database failed", "database", name, "error", err.Error())
			}
		}
		log.Info("restore: --replace: swapped the new copy in", "database", r.dst, "tables", len(neu[i].tables), "kept_until_now_in", r.hold, "swap", gap)
	}
	return nil
}

func holdNames(list []replacement) []string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = sqltext.QuoteIdent(r.hold)
	}
	return out
}

// swapRun is one swap, with what it has done so far (for undo).
type swapRun struct {
	conn      *sql.Conn
	list      []replacement
	orig, neu []*dbState
	renamed   bool
	touched   bool // dst's objects or options were changed
}

// swapFault, when set (tests), is called before each step of the swap
// with its name; an error fails the swap there.
var swapFault func(step string) error

func (s *swapRun) step(name string) error {
	if swapFault != nil {
		return swapFault(name)
	}
	return nil
}

func (s *swapRun) exec(ctx context.Context, q string) error {
	if _, err := s.conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("%s: %w", sqltext.Abbreviate(q, 200), err)
	}
	return nil
}

func (s *swapRun) run(ctx context.Context) error {
	s.touched = true
	if err := s.step("drop-triggers"); err != nil {
		return err
	}
	for i, r := range s.list {
		for _, st := range []struct {
			db string
			ts []*schema.ObjDDL
		}{{r.dst, s.orig[i].meta.Triggers}, {r.tmp, s.neu[i].meta.Triggers}} {
			for _, t := range st.ts {
				if err := s.exec(ctx, "DROP TRIGGER IF EXISTS "+sqltext.QuoteIdent(st.db)+"."+sqltext.QuoteIdent(t.Name)); err != nil {
					return err
				}
			}
		}
	}
	if err := s.step("rename"); err != nil {
		return err
	}
	if moves := s.tableMoves(false); len(moves) > 0 {
		if err := s.exec(ctx, "RENAME TABLE "+strings.Join(moves, ", ")); err != nil {
			return err
		}
	}
	s.renamed = true
	for i, r := range s.list {
		if err := s.fixSequenceDefaults(ctx, r, s.neu[i].meta); err != nil {
			return err
		}
	}
	if err := s.step("objects"); err != nil {
		return err
	}
	for i, r := range s.list {
		if err := s.dropObjects(ctx, r.dst, s.orig[i].meta); err != nil {
			return err
		}
		// The options first: an object records the database's collation
		// when it is created.
		if n, o := s.neu[i], s.orig[i]; n.charset != o.charset || n.coll != o.coll {
			if err := s.exec(ctx, "ALTER DATABASE "+sqltext.QuoteIdent(r.dst)+" CHARACTER SET "+n.charset+" COLLATE "+n.coll); err != nil {
				return err
			}
		}
		for _, q := range objectStatements(s.neu[i].meta, r.dst) {
			if err := s.exec(ctx, q); err != nil {
				return err
			}
		}
	}
	return s.step("done")
}

// dropObjects drops the views, routines and events m lists from db.
func (s *swapRun) dropObjects(ctx context.Context, db string, m *schema.DBMeta) error {
	for _, v := range m.Views {
		if err := s.exec(ctx, "DROP VIEW IF EXISTS "+sqltext.QuoteIdent(db)+"."+sqltext.QuoteIdent(v.Name)); err != nil {
			return err
		}
	}
	for _, o := range append(append([]*schema.ObjDDL(nil), m.Routines...), m.Events...) {
		if err := s.exec(ctx, "DROP "+o.Kind+" IF EXISTS "+sqltext.QuoteIdent(db)+"."+sqltext.QuoteIdent(o.Name)); err != nil {
			return err
		}
	}
	return nil
}

// undo puts every original back: whatever non-table object is now in
// dst is dropped, the tables go back in one RENAME TABLE, and the
// original's objects and options are created again.
func (s *swapRun) undo(ctx context.Context) error {
	if !s.touched {
		return nil
	}
	var errs []error
	for _, r := range s.list {
		if err := s.dropCurrentObjects(ctx, r.dst); err != nil {
			errs = append(errs, err)
		}
	}
	if s.renamed {
		if moves := s.tableMoves(true); len(moves) > 0 {
			if err := s.exec(ctx, "RENAME TABLE "+strings.Join(moves, ", ")); err != nil {
				return errors.Join(append(errs, err)...) // the objects need the tables back first
			}
		}
	}
	for i, r := range s.list {
		o := s.orig[i]
		if err := s.exec(ctx, "ALTER DATABASE "+sqltext.QuoteIdent(r.dst)+" CHARACTER SET "+o.charset+" COLLATE "+o.coll); err != nil {
			errs = append(errs, err)
		}
		for _, q := range objectStatements(o.meta, r.dst) {
			if err := s.exec(ctx, q); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// dropCurrentObjects drops every view, routine, event and trigger db holds
// now.
func (s *swapRun) dropCurrentObjects(ctx context.Context, db string) error {
	q := `SELECT 'VIEW', TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'VIEW'
		UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
		UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
		UNION ALL SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?`
	rows, err := s.conn.QueryContext(ctx, q, db, db, db, db)
	if err != nil {
		return fmt.Errorf("listing the objects of %s: %w", sqltext.QuoteIdent(db), err)
	}
	var drops []string
	for rows.Next() {
		var kind, name string
		if err := rows.Scan(&kind, &name); err != nil {
			rows.Close()
			return err
		}
		drops = append(drops, "DROP "+kind+" IF EXISTS "+sqltext.QuoteIdent(db)+"."+sqltext.QuoteIdent(name))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, d := range drops {
		if err := s.exec(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropIfEmpty drops a holding database that holds no table (after an
// undo); one that still holds tables is kept and named in the log.
func (s *swapRun) dropIfEmpty(ctx context.Context, log *slog.Logger, db string) {
	var n int64
	if err := s.conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", db).Scan(&n); err != nil || n > 0 {
		log.Error("restore: --replace: keeping the holding database (it may hold original tables)", "database", db, "tables", n)
		return
	}
	if _, err := s.conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(db)); err != nil {
		log.Error("restore: --replace: dropping the empty holding database failed", "database", db, "error", err.Error())
	}
}

// objectStatements recreates, in database name, the views, routines,
// triggers and events of m, each under the session settings it was created
// with (as the dumper writes them: placeholder views first, so that views
// and routines may refer to views in any order).
func objectStatements(m *schema.DBMeta, name string) []string {
	out := []string{"USE " + sqltext.QuoteIdent(name)}
	for _, v := range m.Views {
		out = append(out, "DROP VIEW IF EXISTS "+sqltext.QuoteIdent(v.Name), "CREATE VIEW "+sqltext.QuoteIdent(v.Name)+" AS SELECT "+v.PlaceholderSelect())
	}
	for _, o := range m.Routines {
		out = append(out, objectStmts(o, m.Collation)...)
	}
	for _, v := range m.Views {
		out = append(out, "DROP VIEW IF EXISTS "+sqltext.QuoteIdent(v.Name),
			"SET @saved_cs_client = @@character_set_client, @saved_cs_results = @@character_set_results, @saved_col_connection = @@collation_connection",
			fmt.Sprintf("SET character_set_client = %s, character_set_results = %s, collation_connection = %s", v.CSClient, v.CSClient, v.Collation),
			v.CreateSQL,
			"SET character_set_client = @saved_cs_client, character_set_results = @saved_cs_results, collation_connection = @saved_col_connection")
	}
	for _, o := range m.Triggers {
		out = append(out, objectStmts(o, m.Collation)...)
	}
	for _, o := range m.Events {
		out = append(out, objectStmts(o, m.Collation)...)
	}
	return out
}

// objectStmts is objectSQL as statements (no DELIMITER: the body is one
// statement).
func objectStmts(o *schema.ObjDDL, dbCollation string) []string {
	out := []string{"DROP " + o.Kind + " IF EXISTS " + sqltext.QuoteIdent(o.Name)}
	// Unlike the dump, triggers too: the undo recreates the original's
	// exactly.
	alterDB := o.DBCollation != "" && dbCollation != "" && o.DBCollation != dbCollation
	if alterDB {
		out = append(out, "ALTER DATABASE COLLATE "+o.DBCollation)
	}
	out = append(out, "SET @saved_cs_client = @@character_set_client, @saved_cs_results = @@character_set_results, @saved_col_connection = @@collation_connection, @saved_sql_mode = @@sql_mode",
		fmt.Sprintf("SET character_set_client = %s, character_set_results = %s, collation_connection = %s, sql_mode = %s", o.CSClient, o.CSClient, o.Collation, sqltext.QuoteString(o.SQLMode)))
	tz := o.Kind == "EVENT" && o.TimeZone != ""
	if tz {
		out = append(out, "SET @saved_time_zone = @@time_zone, time_zone = "+sqltext.QuoteString(o.TimeZone))
	}
	out = append(out, o.Body)
	if tz {
		out = append(out, "SET time_zone = @saved_time_zone")
	}
	out = append(out, "SET character_set_client = @saved_cs_client, character_set_results = @saved_cs_results, collation_connection = @saved_col_connection, sql_mode = @saved_sql_mode")
	if alterDB {
		out = append(out, "ALTER DATABASE COLLATE "+dbCollation)
	}
	return out
}

var seqDefaultRE = regexp.MustCompile("(?m)^\\s*(`(?:[^`]|``)+`) .* DEFAULT ((?:nextval|lastval)\\(`((?:[^`]|``)+)`\\.(`(?:[^`]|``)+`)\\))")

// fixSequenceDefaults points the DEFAULT nextval(…) of the new tables, which
// the server stored qualified with the temporary database, to dst's
// sequence (RENAME TABLE keeps the qualifier).
func (s *swapRun) fixSequenceDefaults(ctx context.Context, r replacement, m *schema.DBMeta) error {
	for _, t := range m.Tables {
		for _, sub := range seqDefaultRE.FindAllStringSubmatch(t.CreateSQL, -1) {
			if strings.ReplaceAll(sub[3], "``", "`") != r.tmp {
				continue
			}
			fn := sub[2][:strings.IndexByte(sub[2], '(')]
			q := "ALTER TABLE " + sqltext.QuoteIdent(r.dst) + "." + sqltext.QuoteIdent(t.Name) + " ALTER COLUMN " + sub[1] + " SET DEFAULT " + fn + "(" + sqltext.QuoteIdent(r.dst) + "." + sub[4] + ")"
			if err := s.exec(ctx, q); err != nil {
				return err
			}
		}
	}
	return nil
}

// tableMoves lists the pairs of the swap's one RENAME TABLE: every table
// of dst to the holding database and every new one from the temporary
// database to dst; back, those of its undo (the new tables back to the
// temporary database, the original ones back to dst).
func (s *swapRun) tableMoves(back bool) []string {
	var moves []string
	move := func(from, to, t string) {
		moves = append(moves, sqltext.QuoteIdent(from)+"."+sqltext.QuoteIdent(t)+" TO "+sqltext.QuoteIdent(to)+"."+sqltext.QuoteIdent(t))
	}
	for i, r := range s.list {
		if back {
			for _, t := range s.neu[i].tables {
				move(r.dst, r.tmp, t)
			}
			for _, t := range s.orig[i].tables {
				move(r.hold, r.dst, t)
			}
			continue
		}
		for _, t := range s.orig[i].tables {
			move(r.dst, r.hold, t)
		}
		for _, t := range s.neu[i].tables {
			move(r.tmp, r.dst, t)
		}
	}
	return moves
}
