package main

import (
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv/faults"
)

// The fault × operation table of docs/faults.md, object storage rows: each
// test puts toxiproxy (internal/testenv/faults) between ops and the real
// Swift or S3 and runs ops end to end.

const faultRows = 3000 // 3000 × 1 KiB, dumped as hex: ~5.9 MB stored, 6 segments of 1 MiB

func faultJobYAML(sock string) string { return "{socket: " + sock + ", user: root}" }

// Swift resets every connection for 1.5 s from the first request on: the
// authentication meets the resets, is retried, and the backup completes.
func TestFaultSwiftAuthResetIT(t *testing.T) {
	_, sock, name := faultSource(t, "auth", faultRows)
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	done := p.Outage(1500 * time.Millisecond)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	<-done
	if code != 0 || !retried(stderr, "authenticate") {
		t.Fatalf("backup run through reset authentication: exit %d, authentication retried: %v\n%s\n%s", code, retried(stderr, "authenticate"), out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 1 || !l[0].Complete {
		t.Fatalf("listed: %+v", l)
	}
}

// A 2 s outage (every connection reset) once 1.5 MiB of segments went up:
// the segment PUTs in flight are retried and the backup completes.
func TestFaultSwiftSegmentPutResetIT(t *testing.T) {
	_, sock, name := faultSource(t, "segput", faultRows)
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	var done <-chan struct{}
	fired := p.After(faults.Up, 1536<<10, func() { done = p.Outage(2 * time.Second) })
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if !fired() {
		t.Fatal("the outage never came: the test did not do what it says")
	}
	if code != 0 || !retried(stderr, "put ") {
		t.Fatalf("backup run through a segment outage: exit %d, put retried %v\n%s\n%s", code, retried(stderr, "put "), out, stderr)
	}
	_ = done
	if l := faultList(t, cfg); len(l) != 1 || !l[0].Complete {
		t.Fatalf("listed: %+v", l)
	}
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "verify", "--job", "app"); code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, stderr)
	}
}

// The end of the upload (the last segment, the SLO manifest, ops's
// manifest) meets a black hole: the timeout toxic swallows every byte and
// closes the connections after 1 s, for 2 s. The requests are retried; the
// backup completes.
func TestFaultSwiftManifestPutTimeoutIT(t *testing.T) {
	_, sock, name := faultSource(t, "manifest", faultRows)
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	// ~5.9 MB go up: the black hole opens at 5.6 MiB
	fired := p.After(faults.Up, 5700<<10, func() {
		up, down := p.Timeout(faults.Up, 1000), p.Timeout(faults.Down, 1000)
		time.AfterFunc(2*time.Second, func() { p.Remove(up); p.Remove(down) })
	})
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if !fired() {
		t.Fatal("the black hole never came: the test did not do what it says")
	}
	if code != 0 || !retried(stderr, "put ") {
		t.Fatalf("backup run through a black hole at its end: exit %d, put retried %v\n%s\n%s", code, retried(stderr, "put "), out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 1 || !l[0].Complete {
		t.Fatalf("listed: %+v", l)
	}
}

// Every connection from Swift is closed after 700 KiB (limit_data): the
// restore's download resumes again and again, with Range, and the restored
// table is identical to the source's.
func TestFaultSwiftGetResetIT(t *testing.T) {
	db, sock, name := faultSource(t, "get", faultRows)
	db2, host2, port2 := faultRestoreServer(t)
	dst := name + "_restored"
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + dst) })
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{host: "+host2+", port: "+port2+", user: root}", name, "")
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	p.LimitData(faults.Down, 700<<10)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+dst)
	n := strings.Count(stderr, `msg="swift: download resumed"`)
	t.Logf("restore: exit %d, %d resumptions", code, n)
	if code != 0 || n < 2 {
		t.Fatalf("restore through connections cut every 700 KiB: exit %d, %d resumptions\n%s\n%s", code, n, out, stderr)
	}
	sameTable(t, db, name, db2, dst)
}

// A slow, fragmented link to Swift (20 ms ± 5 ms latency, 2 MB/s, the
// answers sliced into ~1 KiB pieces): backup and restore complete, the
// restored table is identical.
func TestFaultSwiftSlowLinkIT(t *testing.T) {
	db, sock, name := faultSource(t, "slow", faultRows)
	db2, host2, port2 := faultRestoreServer(t)
	dst := name + "_restored"
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + dst) })
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{host: "+host2+", port: "+port2+", user: root}", name, "")
	p.Latency(faults.Down, 20, 5)
	p.Latency(faults.Up, 20, 5)
	p.Bandwidth(faults.Up, 2048)
	p.Bandwidth(faults.Down, 2048)
	p.Slicer(faults.Down, 1024, 512, 10)
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run over a slow link: %d\n%s\n%s", code, out, stderr)
	}
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+dst); code != 0 {
		t.Fatalf("restore over a slow link: %d\n%s\n%s", code, out, stderr)
	}
	sameTable(t, db, name, db2, dst)
}

// backup list while every connection is reset for 1.5 s from the listing's
// request on: the listing is retried and lists the backup.
func TestFaultSwiftListResetIT(t *testing.T) {
	_, sock, name := faultSource(t, "list", 10)
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	// Once the listing's GET went up, 1.5 s of resets: its answer is
	// reset (net/http retries a GET on a reused connection once by
	// itself; the resets last longer than that).
	var done <-chan struct{}
	fired := p.When(faults.Up, "format=json", func() { done = p.Outage(1500 * time.Millisecond) })
	code, out, stderr := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	if !fired() {
		t.Fatal("the outage never came")
	}
	<-done
	if code != 0 || !strings.Contains(out, `"complete": true`) || !retried(stderr, "list") {
		t.Fatalf("list through resets: exit %d, list retried %v\n%s\n%s", code, retried(stderr, "list"), out, stderr)
	}
}

// prune while every connection dies after 600 bytes from ops (limit_data
// upstream: a request or two per connection, then a reset in the middle
// of one): the DELETEs meet resets, are retried, and prune removes exactly
// the old backup.
func TestFaultSwiftPruneDeleteResetIT(t *testing.T) {
	_, sock, name := faultSource(t, "prune", 10)
	p, target := faultSwift(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "      retention: {keep_last: 1}\n")
	for range 2 {
		if code, out, stderr := runOps(t, "--config", cfg, "backup", "run", "--no-prune"); code != 0 {
			t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
		}
		time.Sleep(1100 * time.Millisecond) // backup IDs are to the second
	}
	if l := faultList(t, cfg); len(l) != 2 {
		t.Fatalf("listed before prune: %+v", l)
	}
	p.LimitData(faults.Up, 600)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "prune")
	if code != 0 || !retried(stderr, "delete") {
		t.Fatalf("prune through resets: exit %d, delete retried %v\n%s\n%s", code, retried(stderr, "delete"), out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 1 {
		t.Fatalf("listed after prune: %+v", l)
	}
}

// Swift cut off for longer than the retry budget (2 s) in the middle of the
// upload: exit 3 with the budget named, and nothing listed.
func TestFaultSwiftBudgetSpentIT(t *testing.T) {
	_, sock, name := faultSource(t, "budget", faultRows)
	p, target := faultSwift(t, "      retry_budget: 2s\n")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	var restore func()
	fired := p.After(faults.Up, 1536<<10, func() { restore = p.Cut() })
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if !fired() {
		t.Fatal("the cut never came")
	}
	restore()
	if code != 3 || !strings.Contains(stderr, "the retry budget is 2s") {
		t.Fatalf("backup run, storage cut past the budget: exit %d\n%s\n%s", code, out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 0 {
		t.Fatalf("listed after a failed upload: %+v", l)
	}
}

// S3: a 2 s outage once 1.5 MiB of the first part went up: the part
// uploads are retried on their own and the multipart backup completes.
func TestFaultS3PartPutResetIT(t *testing.T) {
	_, sock, name := faultSource(t, "s3put", faultRows)
	p, target := faultS3(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	var done <-chan struct{}
	fired := p.After(faults.Up, 1536<<10, func() { done = p.Outage(2 * time.Second) })
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if !fired() {
		t.Fatal("the outage never came: the test did not do what it says")
	}
	_ = done
	if code != 0 || !retried(stderr, "upload part") {
		t.Fatalf("backup run through a part outage: exit %d, part retried %v\n%s\n%s", code, retried(stderr, "upload part"), out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 1 || !l[0].Complete {
		t.Fatalf("listed: %+v", l)
	}
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "verify", "--job", "app"); code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, stderr)
	}
}

// S3: every connection closed after 700 KiB from the store: the restore's
// download resumes (Range, If-Match) until the end; identical table.
func TestFaultS3GetResetIT(t *testing.T) {
	db, sock, name := faultSource(t, "s3get", faultRows)
	db2, host2, port2 := faultRestoreServer(t)
	dst := name + "_restored"
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + dst) })
	p, target := faultS3(t, "")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{host: "+host2+", port: "+port2+", user: root}", name, "")
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	p.LimitData(faults.Down, 700<<10)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+dst)
	n := strings.Count(stderr, `msg="s3: download resumed"`)
	t.Logf("restore: exit %d, %d resumptions", code, n)
	if code != 0 || n < 2 {
		t.Fatalf("restore through connections cut every 700 KiB: exit %d, %d resumptions\n%s\n%s", code, n, out, stderr)
	}
	sameTable(t, db, name, db2, dst)
}

// S3 cut off for longer than the retry budget (2 s) in the middle of the
// multipart upload: exit 3 with the budget named, nothing listed.
func TestFaultS3BudgetSpentIT(t *testing.T) {
	_, sock, name := faultSource(t, "s3budget", faultRows)
	p, target := faultS3(t, "      retry_budget: 2s\n")
	cfg := faultConfig(t, target, faultJobYAML(sock), "{}", name, "")
	var restore func()
	fired := p.After(faults.Up, 1536<<10, func() { restore = p.Cut() })
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if !fired() {
		t.Fatal("the cut never came")
	}
	restore()
	if code != 3 || !strings.Contains(stderr, "the retry budget is 2s") {
		t.Fatalf("backup run, storage cut past the budget: exit %d\n%s\n%s", code, out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 0 {
		t.Fatalf("listed after a failed upload: %+v", l)
	}
}
