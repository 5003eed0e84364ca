#!/usr/bin/env bash
# Plants, one at a time, the bugs that protect-the-data tests must catch,
# each in a throw-away copy of the tree, and checks that the unit tests of
# the package fail (no services needed). Exit 1 if any bug survives.
#
#   scripts/deliberate-bugs.sh
#   ONLY='replay|definer' scripts/deliberate-bugs.sh   # the plants whose name matches (grep -E)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name | package | file | exact text | replacement
bugs=(
  "manifest written before the stream|./backup|backup/run.go|	res, obj, chunks, err := dumpInto(|	_, _ = WriteManifest(ctx, o.Store, dir, &Manifest{Format: ManifestFormat, Job: job.Name, ID: id}, key)\n	res, obj, chunks, err := dumpInto("
  "ID-collision check always false|./backup|backup/run.go|		if len(objs) == 0 {|		if len(objs) == 0 || len(id) > 0 {"
  "stream Put error ignored|./backup|backup/run.go|	obj, putErr := o.Store.Put(ctx, objName, src)|	obj, putErr := o.Store.Put(ctx, objName, src)\n	putErr = nil"
  "manifest Put error ignored|./backup|backup/run.go|	if _, err := catalog.WriteManifest(ctx, o.Store, dir, m, key); err != nil {|	if _, err := catalog.WriteManifest(ctx, o.Store, dir, m, key); false && err != nil {"
  "restore's SHA-256 check disabled|./backup|backup/restore.go|h.Sum(nil)); got != m.StreamSHA256 {|h.Sum(nil)); false && got != m.StreamSHA256 {"
  "restore test ignores row counts|./backup|backup/restore.go|	if c.WantRows != c.GotRows {|	if false {"
  "restore test ignores checksums|./backup|backup/restore.go|	if c.WantChecksum != nil && |	if false && c.WantChecksum != nil && "
  "restore test ignores digests|./backup|backup/restore.go|	return c.WantDigest == c.GotDigest|	return true"
  "digest not added up while streaming|./backup/mysql/dump|backup/mysql/dump/stream.go|		w.sum += rowHash(row)|		w.sum += 0"
  "replay filter lets mysqlbinlog's delimiter through|./backup/mysql/replay|backup/mysql/replay/replaytext.go|		return fmt.Errorf(\"the mysql client would not read the statement|		return nil\n		_ = fmt.Errorf(\"the mysql client would not read the statement"
  "replay keeps the rows of other databases|./backup/mysql/replay|backup/mysql/replay/replayfilter.go|	_, in := f.restored[db]|	in := true"
  "indexes deferred on a table with foreign keys|./backup/mysql/restore|backup/mysql/restore/restore_keys.go|, strings.Contains(t, \"FOREIGN KEY\"):|:"
  "point-in-time chunk not checked before the restore|./backup/pitr|backup/pitr/pitr.go|	if cerr := rc.Close(); err == nil {|	if cerr := rc.Close(); false && err == nil {"
  "point-in-time picks a backup whose snapshot is after the point|./backup/pitr|backup/pitr/restorepoint.go|		return at.Before(p.t)|		return true"
  "names not escaped on comment lines|./backup/mysql/sqltext|backup/mysql/sqltext/markers.go|func CommentIdent(name string) string { return CommentText(QuoteIdent(name)) }|func CommentIdent(name string) string { return QuoteIdent(name) }"
  "guard lets GRANT through in a body|./backup/mysql/guard|backup/mysql/guard/guard.go|	{\"GRANT\"}, {\"REVOKE\"},|	{\"REVOKE\"},"
  "guard does not check the rows|./backup/mysql/guard|backup/mysql/guard/guard.go|	return CheckRows(s[v+len(\"VALUES\"):], g.Sess.Lex)|	return CheckRows(s[v:v], g.Sess.Lex)"
  "rows left to the data connection never checked|./backup/mysql/restore|backup/mysql/restore/restore_dispatch.go|		if err := guard.CheckRows(it.form.rows, it.lex); err != nil {|		if err := guard.CheckRows(it.form.rows, it.lex); false && err != nil {"
  "splitter copies a quote as a plain byte|./backup/mysql/sqltext|backup/mysql/sqltext/split.go|!strings.ContainsRune(\"'\\\\\"\`#-/\", rune(b))|!strings.ContainsRune(\"\\\\\"\`#-/\", rune(b))"
  "a table's end does not free its connection for a new table|./backup/mysql/restore|backup/mysql/restore/restore_dispatch.go|		w.tables--|		w.tables += 0"
  "a data connection's queue takes statements without taking room|./backup/mysql/restore|backup/mysql/restore/restore.go|		if w.room.Acquire(e.ctx, size) != nil {|		if false && w.room.Acquire(e.ctx, size) != nil {"
  "manifest MAC not checked|./backup/catalog|backup/catalog/manifest.go|	case key != nil && !m.Authentic(key):|	case false:"
  "encryption downgrade accepted|./backup|backup/restore.go|	if o.RequireEncryption && m.Encryption == nil {|	if false {"
  "LOAD DATA reads the year 0 as 2000|./backup/mysql/restore|backup/mysql/restore/restore_load.go|		if k == kindYear && q == p+1 && c == '0' {|		if false {"
  "a quoted value loaded into a number column|./backup/mysql/restore|backup/mysql/restore/restore_load.go|		if k == sqltext.KindNumber |		if k == sqltext.KindBinary+kindYear "
  "a tab inside a string splits the LOAD DATA field|./backup/mysql/restore|backup/mysql/restore/restore_load.go|range [...]byte{'\\\\\\\\', '\\\\t', '\\\\n'}|range [...]byte{'\\\\\\\\', '\\\\n'}"
  "a SET between CREATE TABLE and the data adds the indexes early|./backup/mysql/restore|backup/mysql/restore/restore_keys.go|	if isSessionStatement(s, l) {\\n		return true|	if isSessionStatement(s, l) {\\n		return false"
  "the guard's literal scan ends at an escaped quote|./backup/mysql/sqltext|backup/mysql/sqltext/lexer.go|i += b + 2 // the escaped byte|i += b + 1 // the escaped byte"
  "LOAD DATA reads a latin1 column's rows as utf8mb4 bytes|./backup/mysql/restore|backup/mysql/restore/restore_load.go|		if cs != \"\" && cs != session {|		if cs == typeConverted {"
  "LOAD DATA reads an ENUM's rows as bytes|./backup/mysql/restore|backup/mysql/restore/restore_load.go|		return \"\"\n	}\n	return typeConverted|		return \"\"\n	}\n	return \"\""
  "an index built while a foreign key needs it|./backup/mysql/restore|backup/mysql/restore/restore_keys.go|if t.Is(\"REFERENCES\") && waiting|if t.Is(\"REFERENCES\") && false && waiting"
  "webhook error carries the URL|./internal/notify|internal/notify/notify.go|		return true, secret.RedactURLs(err)|		return true, err"
  "Swift error carries the storage URL|./backup/storage/swift|backup/storage/swift/errors.go|	err = secret.RedactURLs(err)\n|"
  "a URL's path kept by the redaction|./internal/secret|internal/secret/urlerr.go|		out += \"/\" + Redacted|		out += u.EscapedPath()"
  "chunk hash checked after the chunk is released|./backup|backup/chunks.go|	if got := hex.EncodeToString(sum[:]); got != v.want.SHA256[v.i] {|	if got := hex.EncodeToString(sum[:]); false && got != v.want.SHA256[v.i] {"
  "restore streams without the chunk check|./backup|backup/restore.go|		src = newVerifiedReader(src, m.Chunks)|		_ = newVerifiedReader"
  "a truncated chunk list accepted|./backup|backup/chunks.go|		if v.i != len(v.want.SHA256) {|		if false {"
  "old manifest's stream not hashed before the restore|./backup|backup/restore.go|		if err := checkWholeStream(ctx, o.Store, m); err != nil {|		if err := checkWholeStream(ctx, o.Store, m); false && err != nil {"
  "forged chunk size accepted|./backup|backup/restore.go|c != nil && (c.Size < minChunkSize|false && (c.Size < minChunkSize"
  "unauthenticated manifest restored without the flag|./backup|backup/restore.go|func checkAuthenticated(o BackupRestoreOptions) error {|func checkAuthenticated(o BackupRestoreOptions) error {\n	return nil"
  "default manifest key readable by others|./backup|backup/config.go|os.O_EXCL, 0o600)|os.O_EXCL, 0o644)"
  "default manifest key replaced at every backup|./backup|backup/config.go|		created, err := createKeyFile(j.DefaultKeyFile)|		_ = os.Remove(j.DefaultKeyFile)\n		created, err := createKeyFile(j.DefaultKeyFile)"
  "verify and restore use an unauthenticated manifest without the flag|./cmd/ops|cmd/ops/backup.go|	if b.Authenticated {|	if true {"
  "replace restores into the original instead of a temporary database|./backup/mysql/restore|backup/mysql/restore/replace.go|		return r.tmp, nil|		return dst, nil"
  "replace's temporary name longer than 64 characters|./backup/mysql/restore|backup/mysql/restore/replace.go|	if n := 64 - len([]rune(suffix)); len(r) > n {|	if n := 64; len(r) > n {"
  "a manifest with a wrong MAC usable with --trust-unauthenticated-manifest|./cmd/ops|backup/catalog/manifest.go|		if m.MAC == \"\" {|		if true {"
  "definer kept without the manifest listing it|./backup/mysql/guard|backup/mysql/guard/definer.go|	keep := listed && t.Definer == h.Definer()|	keep := true || listed"
  "definer kept when the manifest lists another one|./backup/mysql/guard|backup/mysql/guard/definer.go|	keep := listed && t.Definer == h.Definer()|	keep := listed"
  "event restored enabled|./backup/mysql/guard|backup/mysql/guard/definer.go|	if h.Kind == \"EVENT\" && !(keep && t.Enabled) {|	if false {"
  "a DEFINER inside EXECUTE IMMEDIATE kept|./backup/mysql/guard|backup/mysql/guard/definer.go|	if body, intro, ok := executeImmediateBody(stmt, l); ok {|	if body, intro, ok := executeImmediateBody(stmt, l); false && ok {"
  "definers trusted from an unauthenticated manifest|./backup|backup/restore.go|	if o.Backup.Authenticated {|	if true {"
  "restore sessions wait for a lock as long as the server's default|./backup/mysql/restore|backup/mysql/restore/restore.go|\"lock_wait_timeout\": strconv.Itoa(lockWaitSecs)|\"lock_wait_timeout\": strconv.Itoa(86400 + 0*lockWaitSecs)"
  "a restore's lock wait timeout not explained|./backup/mysql/restore|backup/mysql/restore/restore.go|	if conn.ErrNo(err) != 1205 {|	if true {"
  "an archiver run across purged logs succeeds|./backup/pitr|backup/pitr/binlog_gap.go|	if len(a.res.Gaps) == 0 {|	if true {"
  "no warning while the binlog source is silent|./backup/pitr|backup/pitr/binlog_archive.go|	defer a.watchSilence(ctx)()\n|"
  "the binlog silence warning never repeats|./backup/pitr|backup/pitr/binlog_watch.go|silent >= warned+bound|silent >= warned+time.Hour"
  "guard ignores NO_BACKSLASH_ESCAPES|./backup/mysql/sqltext|backup/mysql/sqltext/lexer.go|		v, n, err := LexQuoted(s[i:], c, !l.NoBackslash, l.Charset)|		v, n, err := LexQuoted(s[i:], c, true, l.Charset)"
  "guard ignores the gbk trail byte|./backup/mysql/sqltext|backup/mysql/sqltext/lexer.go|	mb := cs.MultiByte()|	mb := false"
  "guard ignores ANSI_QUOTES|./backup/mysql/sqltext|backup/mysql/sqltext/lexer.go|(c == '\"' && l.AnsiQuotes):|(c == '\"' && false):"
  "guard does not follow SET sql_mode|./backup/mysql/guard|backup/mysql/guard/guard.go|		return func() { s.Lex.NoBackslash, s.Lex.AnsiQuotes = nbe, ansi }, nil|		_, _ = nbe, ansi\n		return func() {}, nil"
  "guard does not follow SET NAMES|./backup/mysql/guard|backup/mysql/guard/guard.go|			s.Lex.Charset = cs\n			return nil|			_ = cs\n			return nil"
  "splitter ignores NO_BACKSLASH_ESCAPES|./backup/mysql/sqltext|backup/mysql/sqltext/split.go|	esc := q != '\`' && !s.lex.NoBackslash && |	esc := q != '\`' && "
  "a versioned comment the server skips read as code|./backup/mysql/sqltext|backup/mysql/sqltext/lexer.go|	if v <= version && (v < 50700 |	if true && (true "
  "-- before DEL not a comment|./backup/mysql/sqltext|backup/mysql/sqltext/lexer.go|c == 0x7F|c == 0x00"
  "EXECUTE IMMEDIATE of a literal the server converts to the client set|./backup/mysql/guard|backup/mysql/guard/guard.go|(intro != g.Sess.Lex.Charset && |(false && "
  "deferred keys moved out of a string literal|./backup/mysql/restore|backup/mysql/restore/restore_keys.go|!linesOfTokens(create, l)|false"
  "replay reads a NO_BACKSLASH_ESCAPES event with backslash escapes|./backup/mysql/replay|backup/mysql/replay/replaytext.go|	l.NoBackslash = mode&sqlModeNoBackslash != 0|	l.NoBackslash = false"
  "replay reads a gbk event as single-byte text|./backup/mysql/replay|backup/mysql/replay/replaytext.go|	l.Charset = sqltext.Charsets[collationCharsets[id]]|	l.Charset = sqltext.Charsets[\"utf8mb4\"]"
  "replay's client model splits multibyte characters|./backup/mysql/replay|backup/mysql/replay/replaytext.go|		if c >= 0x80 && r.lex.Charset != 0 {|		if false {"
  "replay drops a GTID-looking line inside a literal|./backup/mysql/replay|backup/mysql/replay/replaytext.go|			drop := t.r.atStart() && len(body) < 80|			drop := len(body) < 80"
  "replay passes a backslash at a line end to the client|./backup/mysql/replay|backup/mysql/replay/replaytext.go|		r.problems = append(r.problems, \"a backslash at the end of a line|		_ = append(r.problems, \"a backslash at the end of a line"
  "replay ignores the sql_mode lines of mysqlbinlog's output|./backup/mysql/replay|backup/mysql/replay/replaytext.go|				r.lex = sqlModeState(r.lex, v)|				_ = v"
  "replay passes client commands in a statement|./backup/mysql/replay|backup/mysql/replay/replaytext.go|		r.problems = append(r.problems, fmt.Sprintf(\"client command|		_ = append(r.problems, fmt.Sprintf(\"client command"
  "replay's client model escapes inside backticks|./backup/mysql/replay|backup/mysql/replay/replaytext.go|r.inString != '\`' && !(r.inString|!(r.inString"
  "replay trusts the names mysqlbinlog prints in multibyte sets|./backup/mysql/replay|backup/mysql/replay/replaytext.go|	kinds := map[sqltext.CharsetKind]bool{0: true}|	kinds := map[sqltext.CharsetKind]bool{0: true}\n	if true {\n		return nil\n	}"
  "replay filter ignores the event's sql_mode and charset|./backup/mysql/replay|backup/mysql/replay/replayfilter.go|	l := eventLexState(st, f.lex)|	l := f.lex"
  "replay filter reads statements session-blind|./backup/mysql/replay|backup/mysql/replay/replayfilter.go|	toks, err := sqltext.TokenizeIn(q, l)|	toks, err := sqltext.Tokenize(q)"
  "point-in-time --replace swaps before the replay|./backup/pitr|backup/pitr/pitr.go|	ro.DeferSwap = o.Replace|	ro.DeferSwap = false"
  "point-in-time --replace keeps the new copy of a failed replay|./backup/pitr|backup/pitr/pitr.go|		case rres.Discard != nil:|		case false:"
  "a child process's exit status becomes ops' exit status|./internal/exitcode|internal/exitcode/exitcode.go|	var c *classified|	var c interface{ ExitCode() int }"
  "a chunk's max_event is its last transaction's|./backup/pitr|backup/pitr/binlog_chunker.go|	if o.pendingMax.After(o.max) {|	if true {"
  "a window's time from the last event, not the greatest|./backup/pitr|backup/pitr/binlog_chain.go|		return c.Newest()|		return c.LastEvent"
  "a --until TIME the replay does not reach is restored anyway|./backup/pitr|backup/pitr/pitr.go|	if o.Point.stopArchived() && res.StoppedAt.IsZero() {|	if false {"
  "the replay skips the event at the point and goes on with older ones|./backup/pitr|backup/pitr/pitr_replay.go|				f.Discard()\n				return errReachedPoint|				return nil"
  "verify trusts a chunk manifest's max_event|./backup/pitr|backup/pitr/binlog_verify.go|		case !m.MaxEvent.IsZero() && !newest.Equal(m.MaxEvent):|		case false:"
  "progress total below what was done|./internal/progress|internal/progress/estimate.go|total += max(proj, got.Bytes)|total += max(proj, min(got.Bytes, est.Bytes))"
  "tlscheck reason joined with a newline|./tlscheck|tlscheck/engine.go|func oneLine(err error) string {|func oneLine(err error) string {\n\treturn err.Error()"
  "--resolver ignored for A lookups|./tlscheck|tlscheck/check.go|		o.Probe.Resolver = o.DANEResolver|		o.Probe.Resolver = nil"
  "a resumed read asks for the wrong byte|./backup/storage/swift|backup/storage/swift/read.go|h := swift.Headers{\"Range\": fmt.Sprintf(\"bytes=%d-\", at)}|h := swift.Headers{\"Range\": fmt.Sprintf(\"bytes=%d-\", at+1)}"
  "a resumed read starts over from byte 0|./backup/storage/swift|backup/storage/swift/read.go|h := swift.Headers{\"Range\": fmt.Sprintf(\"bytes=%d-\", at)}|h := swift.Headers{\"Range\": fmt.Sprintf(\"bytes=%d-\", 0)}"
  "a resumed answer's Content-Range start not checked|./backup/storage/swift|backup/storage/swift/read.go|first != at|first != first"
  "a resumed read ignores an ETag change|./backup/storage/swift|backup/storage/swift/read.go|	if same := et == v.etag && rh[\"Last-Modified\"] == v.modified; !same {|	if false {"
  "a resumed read sends no If-Match|./backup/storage/swift|backup/storage/swift/read.go|		h[\"If-Match\"] = v.etag|		_ = h"
  "a resumable read not resumed after its first byte|./backup/storage/retry|backup/storage/retry/retry.go|	if !resumable && rr.started {|	if rr.started {"
  "the retry budget ignored|./backup/storage/retry|backup/storage/retry/retry.go|	if p.Budget > 0 {\n		left := p.Budget - time.Since(since)|	if false {\n		left := p.Budget - time.Since(since)"
  "storage.retry_budget not passed to the Swift store|./cmd/ops|backup/storage/backends/backends.go|		o.ReadOnly = readOnly\n		o.Retry = retry.FromBudget(budget, o.Logger)\n		s, err := swift.New|		o.ReadOnly = readOnly\n		o.Retry = retry.Policy{Logger: o.Logger}\n		s, err := swift.New"
  "Postfix dot pattern loses the label boundary|./tlscheck|tlscheck/match.go|	return strings.HasSuffix(p, pat) && len(p) > len(pat)|	return strings.HasSuffix(p, pat[1:]) && len(p) > len(pat)"
  "Postfix dot pattern loses the label boundary after a wildcard|./tlscheck|tlscheck/match.go|strings.HasSuffix(p[1:], pat)|strings.HasSuffix(p[1:], pat[1:])"
  "retention's same-second tie-break removed|./backup|backup/retention.go|			return catalog.IDAfter(ds[i].ID, ds[j].ID)|			return false"
  "retention's same-second tie-break reversed|./backup|backup/retention.go|			return catalog.IDAfter(ds[i].ID, ds[j].ID)|			return catalog.IDAfter(ds[j].ID, ds[i].ID)"
  "same-second run numbers compared as strings|./backup/catalog|backup/catalog/manifest.go|	return an > bn|	return a > b"
  "backups listed by ID as strings (-10 before -9)|./backup/catalog|backup/catalog/manifest.go|return IDAfter(out[i].ID, out[j].ID)|return out[i].ID > out[j].ID"
  "LOAD DATA taken in a gbk or sjis session (0x5C trail bytes)|./backup/mysql/restore|backup/mysql/restore/restore_load.go|	if loadCharsets[cs] && !strings.Contains(mode, \"STRICT_\")|	if cs != \"\" && !strings.Contains(mode, \"STRICT_\")"
  "notification delivered without waiting for the one queued before it|./internal/notify|internal/notify/notify.go|		if prev != nil {\n			select {|		if false {\n			select {"
  "binlog flush interval ignored (chunks closed only at size, rotation or stop)|./backup/pitr|backup/pitr/binlog_chunker.go|	flush := c.a.o.Job.Binlog.FlushInterval|	flush := 1000 * time.Hour"
  "binlog flush interval four times too long|./backup/pitr|backup/pitr/binlog_chunker.go|	flush := c.a.o.Job.Binlog.FlushInterval|	flush := 4 * c.a.o.Job.Binlog.FlushInterval"
  "binlog flush deadline counted from the last event instead of the last close|./backup/pitr|backup/pitr/binlog_chunker.go|context.WithDeadline(c.ctx, c.lastClose.Add(flush))|context.WithDeadline(c.ctx, time.Now().Add(flush))"
  "a database used again later in the stream|./backup/mysql/dump|backup/mysql/dump/plan.go|ViewsSQL(views, \"\")|ViewsSQL(views, useLine(m.Name))"
  "a trigger keeps its own database's qualifier|./backup/mysql/sqltext|backup/mysql/sqltext/markers.go|			cut = append(cut, [2]int{toks[i+1].Off, toks[i+2].End})|			_ = cut"
  "cat lets a body name the renamed database|./backup/mysql/restore|backup/mysql/restore/cat.go|		if src != dst {|		if src != dst && false {"
  "a body line like a section's USE written raw|./backup/mysql/dump|backup/mysql/dump/ddl.go|sectionLineIn(o.Body)) {|false) {"
  "data deleted before the manifest|./backup/catalog|backup/catalog/manifest.go|		names = slices.Insert(names, 0, manifest)|		names = append(names, manifest)"
  "a truncated DNS answer not asked again over TCP|./tlscheck|tlscheck/resolve.go|	if err == nil && in.Truncated {|	if false && err == nil && in.Truncated {"
  "declared VM names compared without case|./inventory|inventory/declared.go|declaredNames{fold: true}, declaredNames{}, declaredNames{fold: true}|declaredNames{fold: true}, declaredNames{fold: true}, declaredNames{fold: true}"
  "a declared name's scope (source:) ignored|./inventory|inventory/declared.go|	k := [2]string{scope, name}|	k := [2]string{\"\", name}"
  "an --until-gtid replay stops inside a transaction|./backup/pitr|backup/pitr/restorepoint.go|	return ev.GTID != \"\" && !p.set.Includes(ev.GTID)|	return !p.set.Includes(ev.GTID)"
  "inventory history keeps one snapshot fewer than keep|./inventory|inventory/history.go|range snaps[min(h.keep(), len(snaps)):]|range snaps[min(h.keep()-1, len(snaps)):]"
  "inventory history prunes the newest snapshots|./inventory|inventory/history.go|return cmp.Or(b.at.Compare(a.at), |return cmp.Or(a.at.Compare(b.at), "
  "inventory diff --since compares with the newest snapshot of the window|./inventory|inventory/history.go|!s.CollectedAt.After(best.CollectedAt)|s.CollectedAt.After(best.CollectedAt)"
  "inventory snapshot_age never raised|./inventory|inventory/findings.go|age > o.SnapshotMaxAge {|age > 1000*o.SnapshotMaxAge {"
  "restore connects with the backup account instead of restore_mysql|./backup|backup/restore.go|Store: store, MySQL: j.RestoreConn(),|Store: store, MySQL: j.MySQL,"
  "restore accepts a plain backup of a job that encrypts|./backup|backup/restore.go|RequireEncryption: len(j.EncryptTo) > 0}|RequireEncryption: false}"
  "splitter: a NUL does not end a -- or # comment (the lexer's does)|./backup/mysql/sqltext|backup/mysql/sqltext/split.go|	if z := bytes.IndexByte(rest[:end], 0); z >= 0 {|	if z := -1; z >= 0 {"
  "splitter: the */ of a versioned comment read as the start of a comment|./backup/mysql/sqltext|backup/mysql/sqltext/split.go|	if *versioned && len(s.stmt) > 0 |	if false && *versioned && len(s.stmt) > 0 "
  "definer head reader lets a double quote through|./backup/mysql/sqltext|backup/mysql/sqltext/createhead.go|	case strings.IndexByte(raw, '\"') >= 0:|	case false:"
  "definer head reader takes @host apart from its user|./backup/mysql/sqltext|backup/mysql/sqltext/createhead.go|h.Off != u.End|h.Off < u.End"
  "lexer statement reader: VALUES found inside a quoted name|./backup/mysql/sqltext|backup/mysql/sqltext/markers.go|		if t.Is(\"VALUES\") && s[i-1] <= ' '|		if strings.EqualFold(t.Text, \"VALUES\") && s[i-1] <= ' '"
  "definer head read without the session's character set|./backup/mysql/guard|backup/mysql/guard/definer.go|	h, err := sqltext.ReadCreateHead(stmt, l)|	h, err := sqltext.ReadCreateHead(stmt, sqltext.LexState{})"
  "TLSRPT gzip bomb read whole|./tlscheck/tlsrpt|tlscheck/tlsrpt/decode.go|	if len(out) > MaxSize {|	if false {"
  "TLSRPT negative session count accepted|./tlscheck/tlsrpt|tlscheck/tlsrpt/report.go|	if *n < 0 {|	if *n < -1 {"
  "DANE rollover: a DANE-TA record not counted as safe|./tlscheck|tlscheck/dane.go|		if t.Usage == 2 {|		if t.Usage == 9 {"
  "DANE rollover: a second DANE-EE key not counted as safe|./tlscheck|tlscheck/dane.go|		if !bytes.Equal(tlsaData(t, leaf), t.Data) {|		if false {"
  "MTA-STS decides where TLSA records validate|./tlscheck|tlscheck/engine.go|d != nil && daneValidates(d) && stsInEffect|d != nil && false && stsInEffect"
  "suggest prints a candidate without evaluating it back|./tlscheck|tlscheck/suggest.go|		if why == \"\" {|		if true {"
  "cert expiry gauge of a check not replaced in the textfile|./internal/metrics|internal/metrics/textfile.go|	case \"ops_tlscheck_verdict\", \"ops_tlscheck_cert_expiry_timestamp_seconds\":|	case \"ops_tlscheck_verdict\":"
  "s3 failed upload left unaborted|./backup/storage/s3|backup/storage/s3/upload.go|s.abort(actx, name, id)|s.abort(actx, name, \"gone-\"+id)"
  "s3 resume without If-Match|./backup/storage/s3|backup/storage/s3/read.go|		in.IfMatch = aws.String(v.etag)|		_ = aws.String(v.etag)"
  "s3 resume trusts a replaced object|./backup/storage/s3|backup/storage/s3/read.go|	if et != v.etag \x7c\x7c !mod.Equal(v.modified) {|	if false {"
  "s3 read-only open creates the bucket|./backup/storage/s3|backup/storage/s3/s3.go|	if s.opts.ReadOnly {|	if false && s.opts.ReadOnly {"
  "s3 secret accepted in the config file|./cmd/ops|cmd/ops/runtime.go|strings.HasPrefix(w, res.File+\":\")|false && strings.HasPrefix(w, res.File+\":\")"
  "s3 checksum trailers on|./backup/storage/s3|backup/storage/s3/s3.go|aws.RequestChecksumCalculationWhenRequired|aws.RequestChecksumCalculationWhenSupported"
  "faults: an upload cut by a reset (net.ErrClosed) not retried|./backup/storage/retry|backup/storage/retry/retry.go|errors.As(err, &ue) && errors.Is(ue.Err, net.ErrClosed)|errors.As(err, &ue) && false"
  "faults: a restore's rollback gives up on a broken connection|./backup/mysql/restore|backup/mysql/restore/targets.go|		if err = fn(); !brokenConn(err) {|		if err = fn(); true {"
  "faults: a failed replay names the backup's position, not the one it reached|./backup/pitr|backup/pitr/pitr.go|ends at source position \" + res.LastApplied.String()|ends at source position \" + res.From.String()"
)

survived=0
for b in "${bugs[@]}"; do
  IFS='|' read -r name pkg file old new <<<"$b"
  if [ -n "${ONLY:-}" ] && ! grep -qE -- "$ONLY" <<<"$name"; then continue; fi
  rm -rf "$work/t" && mkdir "$work/t"
  git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$work/t"
  old=$(printf "%b" "$old") new=$(printf "%b" "$new")
  OLD="$old" NEW="$new" python3 - "$work/t/$file" <<'PY'
import os, sys
p = sys.argv[1]; s = open(p).read(); old, new = os.environ["OLD"], os.environ["NEW"]
if s.count(old) != 1:
    sys.exit(f"{p}: the text to replace occurs {s.count(old)} times: {old!r}")
open(p, "w").write(s.replace(old, new))
PY
  if (cd "$work/t" && go test -count=1 -failfast "$pkg" >"$work/out" 2>&1); then
    echo "SURVIVED  $name ($file)"
    survived=$((survived + 1))
  elif grep -q -e '\[build failed\]' -e '\[setup failed\]' "$work/out"; then
    # A plant that does not compile proves nothing: fix the plant.
    echo "BROKEN    $name: the planted code does not build"
    grep -m3 -E '\.go:[0-9]+:[0-9]+' "$work/out" | sed 's/^/          /'
    survived=$((survived + 1))
  else
    first=$(grep -m1 -E '^\s+\S+_test\.go:[0-9]+:|^--- FAIL' "$work/out" | sed 's/^\s*//' || true)
    echo "caught    $name: $first"
  fi
done
[ "$survived" -eq 0 ]
