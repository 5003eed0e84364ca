#!/usr/bin/env python3
# The same mutations before and after the [3/9] split (bench/mutation-split.md):
#   bench/mutation-compare.py BEFORE.log AFTER.json
# BEFORE.log: gremlins log of `scripts/mutation.sh ./backup/mysql` at 7baa5ac (bin/mutation/backup-mysql.log);
# AFTER.json: `scripts/mutation.sh ./backup/mysql/binlog` (bin/mutation/backup-mysql-binlog.json). Run from the
# repository root: the files are mapped line for line with difflib between 7baa5ac and HEAD.
import json, re, subprocess, difflib, collections, sys
before = []
for l in open(sys.argv[1]):
    m = re.match(r'\s*(KILLED|LIVED|NOT COVERED|TIMED OUT|NOT VIABLE) (\w+) at (\w+\.go):(\d+):(\d+)', l)
    if m: before.append((m.group(3), int(m.group(4)), int(m.group(5)), m.group(2), m.group(1)))
after = json.load(open(sys.argv[2]))
amap = {}
for f in after['files']:
    for mu in f['mutations']:
        amap[(f['file_name'].split('/')[-1], mu['line'], mu['column'], mu['type'])] = mu['status']
def lines(rev, path):
    return subprocess.run(['git','-C','.','show',f'{rev}:{path}'],capture_output=True,text=True).stdout.splitlines()
linemap = {}
for fn in ['binlog.go','binlogevent.go']:
    a = lines('7baa5ac','backup/mysql/'+fn); b = lines('HEAD','backup/mysql/binlog/'+fn)
    mp = {}
    for tag,i1,i2,j1,j2 in difflib.SequenceMatcher(None,a,b,autojunk=False).get_opcodes():
        if tag=='equal' or (tag=='replace' and i2-i1==j2-j1):
            for k in range(i2-i1): mp[i1+k+1]=j1+k+1
    linemap[fn]=mp
pairs = collections.Counter(); files = collections.defaultdict(collections.Counter)
unmatched = 0
for fn,line,col,typ,st in before:
    nl = linemap[fn].get(line)
    key = (fn,nl,col,typ)
    if nl is None or key not in amap:
        unmatched += 1; continue
    a = amap[key]
    pairs[(st,a)] += 1
print("before mutants", len(before), "matched", sum(pairs.values()), "unmatched", unmatched)
for k,v in sorted(pairs.items()): print(k, v)
def eff(c, idx):
    k = sum(v for p,v in c.items() if p[idx] in ('KILLED','TIMED OUT'))
    l = sum(v for p,v in c.items() if p[idx]=='LIVED')
    n = sum(v for p,v in c.items() if p[idx]=='NOT COVERED')
    return k, l, n, 100*k/(k+l) if k+l else 0, 100*(k+l)/(k+l+n) if k+l+n else 0
print("before: killed %d lived %d notcov %d efficacy %.1f coverage %.1f" % eff(pairs,0))
print("after : killed %d lived %d notcov %d efficacy %.1f coverage %.1f" % eff(pairs,1))
