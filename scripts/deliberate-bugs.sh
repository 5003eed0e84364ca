#!/usr/bin/env bash
# Plants, one at a time, the bugs that protect-the-data tests must catch,
# each in a throw-away copy of the tree, and checks that the unit tests of
# the package fail (no services needed). Exit 1 if any bug survives.
#
#   scripts/deliberate-bugs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name | package | file | exact text | replacement
bugs=(
  "manifest written before the stream|./backup|backup/run.go|	res, obj, err := dumpInto(|	_, _ = WriteManifest(ctx, o.Store, dir, &Manifest{Format: ManifestFormat, Job: job.Name, ID: id}, key)\n	res, obj, err := dumpInto("
  "ID-collision check always false|./backup|backup/run.go|		if len(objs) == 0 {|		if len(objs) == 0 || len(id) > 0 {"
  "stream Put error ignored|./backup|backup/run.go|	obj, putErr := o.Store.Put(ctx, objName, src)|	obj, putErr := o.Store.Put(ctx, objName, src)\n	putErr = nil"
  "manifest Put error ignored|./backup|backup/run.go|	if _, err := WriteManifest(ctx, o.Store, dir, m, key); err != nil {|	if _, err := WriteManifest(ctx, o.Store, dir, m, key); false && err != nil {"
  "restore's SHA-256 check disabled|./backup|backup/restore.go|got != m.StreamSHA256 {|false && got != m.StreamSHA256 {"
  "restore test ignores row counts|./backup|backup/restore.go|	if c.WantRows != c.GotRows {|	if false {"
  "restore test ignores checksums|./backup|backup/restore.go|	if c.WantChecksum != nil && |	if false && c.WantChecksum != nil && "
  "restore test ignores digests|./backup|backup/restore.go|	return c.WantDigest == c.GotDigest|	return true"
  "digest not added up while streaming|./backup/mysql|backup/mysql/stream.go|		w.sum += rowHash(row)|		w.sum += 0"
  "replay filter lets mysqlbinlog's delimiter through|./backup/mysql|backup/mysql/replayfilter.go|	if strings.Contains(q, strings.TrimSuffix(replayDelimiter, \";\")) {|	if false {"
  "replay keeps the rows of other databases|./backup/mysql|backup/mysql/replayfilter.go|	_, in := f.restored[db]|	in := true"
  "indexes deferred on a table with foreign keys|./backup/mysql|backup/mysql/restore_keys.go|, strings.Contains(t, \"FOREIGN KEY\"):|:"
  "point-in-time chunk not checked before the restore|./backup|backup/pitr.go|	if cerr := rc.Close(); err == nil {|	if cerr := rc.Close(); false && err == nil {"
  "point-in-time picks a backup whose snapshot is after the point|./backup|backup/pitr.go|			return at.Before(p.Time)|			return true"
  "names not escaped on comment lines|./backup/mysql|backup/mysql/sqltext.go|func commentIdent(name string) string { return commentText(QuoteIdent(name)) }|func commentIdent(name string) string { return QuoteIdent(name) }"
  "guard lets GRANT through in a body|./backup/mysql|backup/mysql/guard.go|	{\"GRANT\"}, {\"REVOKE\"},|	{\"REVOKE\"},"
  "guard does not check the rows|./backup/mysql|backup/mysql/guard.go|	return checkRows(s[v+len(\"VALUES\"):], g.sess.lex)|	return checkRows(s[v:v], g.sess.lex)"
  "rows left to the data connection never checked|./backup/mysql|backup/mysql/restore_dispatch.go|		if err := checkRows(it.form.rows, it.lex); err != nil {|		if err := checkRows(it.form.rows, it.lex); false && err != nil {"
  "splitter copies a quote as a plain byte|./backup/mysql|backup/mysql/split.go|!strings.ContainsRune(\"'\\\\\"\`#-/\", rune(b))|!strings.ContainsRune(\"\\\\\"\`#-/\", rune(b))"
  "a table's end does not free its connection for a new table|./backup/mysql|backup/mysql/restore_dispatch.go|		w.tables--|		w.tables += 0"
  "a data connection's queue takes statements without taking room|./backup/mysql|backup/mysql/restore.go|		if w.room.Acquire(e.ctx, size) != nil {|		if false && w.room.Acquire(e.ctx, size) != nil {"
  "manifest MAC not checked|./backup|backup/manifest.go|	case key != nil && !m.authentic(key):|	case false:"
  "encryption downgrade accepted|./backup|backup/restore.go|	if o.RequireEncryption && m.Encryption == nil {|	if false {"
  "LOAD DATA reads the year 0 as 2000|./backup/mysql|backup/mysql/restore_load.go|		if k == kindYear && q == p+1 && c == '0' {|		if false {"
  "a quoted value loaded into a number column|./backup/mysql|backup/mysql/restore_load.go|		if k == kindNumber |		if k == kindBinary+kindYear "
  "a tab inside a string splits the LOAD DATA field|./backup/mysql|backup/mysql/restore_load.go|range [...]byte{'\\\\\\\\', '\\\\t', '\\\\n'}|range [...]byte{'\\\\\\\\', '\\\\n'}"
  "a SET between CREATE TABLE and the data adds the indexes early|./backup/mysql|backup/mysql/restore_keys.go|	if isSessionStatement(s, l) {\\n		return true|	if isSessionStatement(s, l) {\\n		return false"
  "the guard's literal scan ends at an escaped quote|./backup/mysql|backup/mysql/guard.go|i += b + 2 // the escaped byte|i += b + 1 // the escaped byte"
  "LOAD DATA reads a latin1 column's rows as utf8mb4 bytes|./backup/mysql|backup/mysql/restore_load.go|		if cs != \"\" && cs != session {|		if cs == typeConverted {"
  "LOAD DATA reads an ENUM's rows as bytes|./backup/mysql|backup/mysql/restore_load.go|		return \"\"\n	}\n	return typeConverted|		return \"\"\n	}\n	return \"\""
  "an index built while a foreign key needs it|./backup/mysql|backup/mysql/restore_keys.go|if t.is(\"REFERENCES\") && waiting|if t.is(\"REFERENCES\") && false && waiting"
  "guard ignores NO_BACKSLASH_ESCAPES|./backup/mysql|backup/mysql/lexer.go|			v, n, err := lexQuoted(s[i:], c, !l.noBackslash, l.cs)|			v, n, err := lexQuoted(s[i:], c, true, l.cs)"
  "guard ignores the gbk trail byte|./backup/mysql|backup/mysql/lexer.go|	mb := cs.multiByte()|	mb := false"
  "guard ignores ANSI_QUOTES|./backup/mysql|backup/mysql/lexer.go|(c == '\"' && l.ansiQuotes):|(c == '\"' && false):"
  "guard does not follow SET sql_mode|./backup/mysql|backup/mysql/guard.go|		return func() { s.lex.noBackslash, s.lex.ansiQuotes = nbe, ansi }, nil|		_, _ = nbe, ansi\n		return func() {}, nil"
  "guard does not follow SET NAMES|./backup/mysql|backup/mysql/guard.go|			s.lex.cs = cs\n			return nil|			_ = cs\n			return nil"
  "splitter ignores NO_BACKSLASH_ESCAPES|./backup/mysql|backup/mysql/split.go|	esc := q != '\`' && !s.lex.noBackslash && |	esc := q != '\`' && "
  "a versioned comment the server skips read as code|./backup/mysql|backup/mysql/lexer.go|	if v <= version && (v < 50700 |	if true && (true "
  "-- before DEL not a comment|./backup/mysql|backup/mysql/lexer.go|c == 0x7F|c == 0x00"
  "EXECUTE IMMEDIATE of a literal the server converts to the client set|./backup/mysql|backup/mysql/guard.go|(intro != g.sess.lex.cs && |(false && "
  "deferred keys moved out of a string literal|./backup/mysql|backup/mysql/restore_keys.go|!linesOfTokens(create, l)|false"
)

survived=0
for b in "${bugs[@]}"; do
  IFS='|' read -r name pkg file old new <<<"$b"
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
  if (cd "$work/t" && go test -count=1 "$pkg" >"$work/out" 2>&1); then
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
