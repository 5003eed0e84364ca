package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/opsteam/ops/internal/testenv"
)

// s3IT is the S3 API of the Swift all-in-one (scripts/services.sh start s3)
// and a bucket of the test's own.
type s3IT struct {
	endpoint, key, secretFile, s3cmdCfg, bucket string
	client                                      *awss3.Client
}

func newS3IT(t *testing.T) *s3IT {
	t.Helper()
	testenv.RequireIT(t)
	s := &s3IT{
		endpoint:   testenv.Getenv("OPS_IT_S3_ENDPOINT", "http://127.0.0.1:8081"),
		key:        testenv.Getenv("OPS_IT_S3_ACCESS_KEY", "test:tester"),
		secretFile: testenv.Getenv("OPS_IT_S3_SECRET_FILE", "/var/lib/ops-test/s3/secret"),
		s3cmdCfg:   testenv.Getenv("OPS_IT_S3CMD_CFG", "/var/lib/ops-test/s3/s3cmd.cfg"),
		bucket:     fmt.Sprintf("ops-s3it-%016x", rand.Uint64()),
	}
	secret, err := os.ReadFile(s.secretFile)
	if err != nil {
		t.Fatalf("the S3 test bed is not set up (scripts/services.sh start s3): %v", err)
	}
	if _, err := exec.LookPath("s3cmd"); err != nil {
		t.Fatalf("s3cmd is missing (scripts/services.sh start s3): %v", err)
	}
	s.client = awss3.New(awss3.Options{
		Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(s.endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.key, SecretAccessKey: strings.TrimSpace(string(secret))}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	t.Cleanup(func() { s.removeBucket(t) })
	return s
}

// s3cmd runs Debian's s3cmd against the test bed.
func (s *s3IT) s3cmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("s3cmd", append([]string{"-c", s.s3cmdCfg}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("s3cmd %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// objects and uploads list the bucket's objects and multipart uploads
// under prefix (nil when the bucket does not exist).
func (s *s3IT) objects(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := s.client.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	if err != nil {
		t.Fatalf("listing %s: %v", s.bucket, err)
	}
	var names []string
	for _, o := range out.Contents {
		names = append(names, aws.ToString(o.Key))
	}
	return names
}

type s3Upload struct{ key, id string }

func (s *s3IT) uploads(t *testing.T, prefix string) []s3Upload {
	t.Helper()
	out, err := s.client.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix})
	if err != nil {
		t.Fatalf("listing the uploads of %s: %v", s.bucket, err)
	}
	var ups []s3Upload
	for _, u := range out.Uploads {
		ups = append(ups, s3Upload{aws.ToString(u.Key), aws.ToString(u.UploadId)})
	}
	return ups
}

func (s *s3IT) parts(u s3Upload) int {
	out, err := s.client.ListParts(context.Background(), &awss3.ListPartsInput{Bucket: &s.bucket, Key: &u.key, UploadId: &u.id})
	if err != nil {
		return 0
	}
	return len(out.Parts)
}

func (s *s3IT) removeBucket(t *testing.T) {
	ctx := context.Background()
	if _, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return
	}
	for _, u := range s.uploads(t, "") {
		_, _ = s.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &u.key, UploadId: &u.id})
	}
	for _, k := range s.objects(t, "") {
		_, _ = s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: &k})
	}
	if _, err := s.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &s.bucket}); err != nil {
		t.Logf("deleting bucket %s: %v", s.bucket, err)
	}
}

// s3itSource creates the database s3it_<random> on the source server with
// stmts ({db} is its name), dropped when the test ends.
func s3itSource(t *testing.T, stmts ...string) (db *sql.DB, sock, name string) {
	t.Helper()
	sock = testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")
	db = itOpen(t, "root@unix("+sock+")/", "scripts/services.sh start mariadb")
	name = fmt.Sprintf("s3it_%d", rand.Uint32())
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + name) })
	for _, q := range append([]string{"CREATE DATABASE {db}"}, stmts...) {
		if _, err := db.Exec(strings.ReplaceAll(q, "{db}", name)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db, sock, name
}

func checksumTable(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var n string
	var c sql.NullString
	if err := db.QueryRow("CHECKSUM TABLE "+table).Scan(&n, &c); err != nil || !c.Valid {
		t.Fatalf("CHECKSUM TABLE %s: %v (%v)", table, err, c)
	}
	return c.String
}

// A backup to Swift's S3 API in 5 MiB parts: config check --connect lists
// the bucket; list, verify and restore round-trip it to an identical
// CHECKSUM TABLE; the stock tools (s3cmd get, zstd -dc | mariadb) restore
// it too; a kill -9 at several points of an upload never lists anything,
// and prune aborts every upload left.
func TestS3BackupRestoreAndKill(t *testing.T) {
	s3 := newS3IT(t)
	db, sock, name := s3itSource(t,
		"CREATE TABLE {db}.t (id INT PRIMARY KEY, pad VARCHAR(255), n DOUBLE)",
		// random hex compresses about 2:1: ~16 MB of zstd, 4 parts of 5 MiB
		"INSERT INTO {db}.t SELECT seq, CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND())), RAND() FROM {db}.seq_1_to_300000")
	addr2 := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	db2 := itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + name) })
	host2, port2, _ := strings.Cut(addr2, ":")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    cos:
      type: s3
      endpoint: %s
      region: us-east-1
      bucket: %s
      access_key_id: "%s"
      secret_access_key_file: %s
      path_style: true
      part_size: 5MiB
backup:
  jobs:
    - name: app
      target: cos
      mysql: {socket: %s, user: root}
      restore_mysql: {host: %s, port: %s, user: root}
      databases: [%s]
      retention: {keep_last: 1}
`, s3.endpoint, s3.bucket, s3.key, s3.secretFile, sock, host2, port2, name))

	code, out, stderr := runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 0 || !strings.Contains(out, "ok: storage target cos: s3 bucket "+s3.bucket+" does not exist yet") {
		t.Fatalf("config check --connect before the first run: %d\n%s\n%s", code, out, stderr)
	}
	if code, out, stderr = runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 0 || !strings.Contains(out, "ok: storage target cos: s3:"+s3.bucket+", 2 objects of job app") {
		t.Fatalf("config check --connect: %d\n%s\n%s", code, out, stderr)
	}
	_, out, _ = runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []struct {
		ID, Object string
		Size       int64
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %s", err, out)
	}
	if list[0].Size <= 3*5<<20 {
		t.Fatalf("the backup is %d bytes, not more than 3 parts", list[0].Size)
	}
	if code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "app"); code != 0 {
		t.Fatalf("verify: %d\n%s\n%s", code, out, stderr)
	}
	want := checksumTable(t, db, name+".t")

	// The stock tools: s3cmd get, then zstd -dc | mariadb.
	dl := filepath.Join(t.TempDir(), "dump.sql.zst")
	s3.s3cmd(t, "get", "s3://"+s3.bucket+"/"+list[0].Object, dl)
	load := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc %s | mariadb --no-defaults --binary-mode -h %s -P %s -uroot", dl, host2, port2))
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("zstd -dc | mariadb: %v\n%s", err, out)
	}
	if got := checksumTable(t, db2, name+".t"); got != want {
		t.Fatalf("s3cmd + zstd + mariadb: CHECKSUM TABLE %s, want %s", got, want)
	}
	// ops restore, into the same server after dropping the copy.
	if _, err := db2.Exec("DROP DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "app"); code != 0 {
		t.Fatalf("restore: %d\n%s\n%s", code, out, stderr)
	}
	if got := checksumTable(t, db2, name+".t"); got != want {
		t.Fatalf("ops restore: CHECKSUM TABLE %s, want %s", got, want)
	}

	s3KillMidUpload(t, s3, cfg, list[0].ID)
}

// s3KillMidUpload kills backup runs with SIGKILL as soon as their upload
// has begun, and once parts are up: nothing is ever listed, and prune
// aborts every upload left.
func s3KillMidUpload(t *testing.T, s3 *s3IT, cfg, liveID string) {
	for _, minParts := range []int{0, 2} {
		cmd := opsProcess("--config", cfg, "backup", "run")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !killed; time.Sleep(5 * time.Millisecond) {
			for _, u := range s3.uploads(t, "app/") {
				if s3.parts(u) >= minParts {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
		}
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("the run never had an upload with %d parts to kill", minParts)
		}
		_, out, _ := runOps(t, "--config", cfg, "backup", "list", "--all", "--output", "json")
		var all []struct{ ID string }
		_ = json.Unmarshal([]byte(out), &all)
		if len(all) != 1 || all[0].ID != liveID {
			t.Fatalf("after kill -9 with %d parts up, list --all = %s", minParts, out)
		}
	}
	left := s3.uploads(t, "app/")
	if len(left) != 2 {
		t.Fatalf("%d multipart uploads after two kills, want 2: %v", len(left), left)
	}
	time.Sleep(1100 * time.Millisecond)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "prune", "--grace", "1s")
	if code != 0 || strings.Count(out, "orphan app/") != 2 {
		t.Fatalf("prune: %d\n%s\n%s", code, out, stderr)
	}
	if ups := s3.uploads(t, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads left after prune: %v", ups)
	}
	if objs := s3.objects(t, ""); len(objs) != 2 {
		t.Fatalf("objects after prune: %q, want the live backup's stream and manifest", objs)
	}
}

// Archiving the binary log into Swift's S3 API: a chunk larger than
// part_size (a multipart upload) and small ones; list --binlog, verify
// (every chunk's SHA-256 and events) and prune work on the bucket.
func TestBinlogS3IT(t *testing.T) {
	s3 := newS3IT(t)
	b := newBinlogIT(t, "1s", "")
	b.cfg = writeConfig(t, strings.Replace(mustRead(t, b.cfg), "    local: {type: local, path: "+b.dir+"}", fmt.Sprintf(`    local:
      type: s3
      endpoint: %s
      bucket: %s
      access_key_id: "%s"
      secret_access_key_file: %s
      path_style: true
      part_size: 5MiB`, s3.endpoint, s3.bucket, s3.key, s3.secretFile), 1))
	b.mustOps("backup", "run", "--job", "it", "--no-prune")
	b.exec(fmt.Sprintf("INSERT INTO %s.t (v, n) SELECT CONCAT(MD5(RAND()), MD5(RAND())), seq FROM %s.seq_1_to_200000", b.db, b.db),
		"FLUSH BINARY LOGS", fmt.Sprintf("UPDATE %s.t SET n = n + 1 WHERE id < 100", b.db))
	b.mustOps("backup", "binlog", "--job", "it", "--once")
	out := b.mustOps("backup", "list", "--binlog", "--job", "it", "--output", "json")
	var l binlogListing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Chunks) < 2 || len(l.Gaps) != 0 || len(l.Windows) != 1 || !l.Windows[0].Recoverable {
		t.Fatalf("list --binlog on S3: %s", out)
	}
	big := ""
	for _, c := range l.Chunks {
		if c.Size > 5<<20 {
			big = c.Object
		}
	}
	if big == "" {
		t.Fatalf("no chunk above part_size: %s", out)
	}
	head, err := s3.client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: &s3.bucket, Key: &big})
	if err != nil || !strings.Contains(aws.ToString(head.ETag), "-") {
		t.Errorf("the large chunk is not a multipart object: %v %v", err, head)
	}
	if v := b.mustOps("backup", "verify", "--job", "it"); !strings.Contains(v, " binlog ") {
		t.Errorf("verify: %s", v)
	}
	b.mustOps("backup", "prune", "--job", "it")
}

// The S3 API unreachable for 2 s in the middle of a backup's upload (its
// parts are retried), then in the middle of a restore's download (it goes
// on from the byte reached): both succeed, and the restored table's
// CHECKSUM TABLE equals the source's. The storage is cut by a TCP proxy in
// front of the real s3api, which is never touched.
func TestS3OutageIT(t *testing.T) {
	s3 := newS3IT(t)
	u, err := url.Parse(s3.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	db, sock, name := s3itSource(t,
		"CREATE TABLE {db}.t (id INT PRIMARY KEY, b BLOB)",
		"INSERT INTO {db}.t SELECT seq, RANDOM_BYTES(1024) FROM {db}.seq_1_to_24000") // incompressible
	addr2 := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	db2 := itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	dst := name + "_restored"
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + dst) })
	host2, port2, _ := strings.Cut(addr2, ":")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    cos:
      type: s3
      endpoint: http://%s
      bucket: %s
      access_key_id: "%s"
      secret_access_key_file: %s
      path_style: true
      part_size: 5MiB
backup:
  jobs:
    - name: app
      target: cos
      mysql: {socket: %s, user: root}
      restore_mysql: {host: %s, port: %s, user: root}
      databases: [%s]
`, proxy.addr, s3.bucket, s3.key, s3.secretFile, sock, host2, port2, name))
	// The bucket exists, so that the cut falls among the parts.
	s3.s3cmd(t, "mb", "s3://"+s3.bucket)

	proxy.arm(1500, 2*time.Second) // a few answers to part uploads, then the cut
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	cuts, down := proxy.report()
	t.Logf("backup run: exit %d; storage cut %d time(s), down %s", code, cuts, down.Round(time.Millisecond))
	if cuts != 1 || down < 2*time.Second {
		t.Fatalf("the storage was cut %d times, down %s: the test did not do what it says", cuts, down)
	}
	if code != 0 || !strings.Contains(stderr, "retrying store operation") {
		t.Fatalf("backup run through a 2 s storage outage: exit %d, no retry logged?\n%s\n%s", code, out, stderr)
	}
	_, out, _ = runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []struct{ Size int64 }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Size < 20<<20 {
		t.Fatalf("list: %v %s (want one backup of at least 20 MiB)", err, out)
	}

	proxy.arm(list[0].Size/2, 2*time.Second)
	code, out, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+dst)
	cuts, down = proxy.report()
	t.Logf("restore: exit %d; storage cut %d time(s) in all, the last down %s", code, cuts, down.Round(time.Millisecond))
	if cuts != 2 || down < 2*time.Second {
		t.Fatalf("the storage was cut %d times in all, down %s: the test did not do what it says", cuts, down)
	}
	if code != 0 || !strings.Contains(stderr, `msg="s3: download resumed"`) {
		t.Fatalf("restore through a 2 s storage outage: exit %d, no resumption logged?\n%s\n%s", code, out, stderr)
	}
	if got, want := checksumTable(t, db2, dst+".t"), checksumTable(t, db, name+".t"); got != want {
		t.Fatalf("CHECKSUM TABLE: source %s, restored %s", want, got)
	}
}

// config check --connect against the real S3 API: a wrong secret is
// reported naming the bucket and the access key (never the secret), a
// mistyped bucket with the existing close name, and neither check creates
// a bucket.
func TestS3ConnectCheckIT(t *testing.T) {
	s3 := newS3IT(t)
	s3.s3cmd(t, "mb", "s3://"+s3.bucket)
	wrong := filepath.Join(t.TempDir(), "wrong.secret")
	if err := os.WriteFile(wrong, []byte("not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := func(bucket, secretFile string) string {
		return writeConfig(t, fmt.Sprintf(`storage:
  targets:
    cos: {type: s3, endpoint: "%s", bucket: %s, access_key_id: "%s", secret_access_key_file: %s, path_style: true}
backup:
  jobs:
    - {name: app, target: cos}
`, s3.endpoint, bucket, s3.key, secretFile))
	}
	code, out, stderr := runOps(t, "--config", conf(s3.bucket, s3.secretFile), "config", "check", "--connect")
	if code != 0 || !strings.Contains(out, "ok: storage target cos: s3:"+s3.bucket+", 0 objects of job app") {
		t.Errorf("right credentials: %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runOps(t, "--config", conf(s3.bucket, wrong), "config", "check", "--connect")
	if code != 1 || !strings.Contains(stderr, "access to bucket "+s3.bucket+" denied for access key "+s3.key) ||
		strings.Contains(out+stderr, "not-the-secret") {
		t.Errorf("wrong secret: %d\n%s\n%s", code, out, stderr)
	}
	typo := s3.bucket[:len(s3.bucket)-1]
	code, out, stderr = runOps(t, "--config", conf(typo, s3.secretFile), "config", "check", "--connect")
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("s3 bucket %q does not exist (did you mean %q?)", typo, s3.bucket)) {
		t.Errorf("mistyped bucket: %d\n%s\n%s", code, out, stderr)
	}
	if _, err := s3.client.HeadBucket(context.Background(), &awss3.HeadBucketInput{Bucket: &typo}); err == nil {
		t.Errorf("config check --connect created bucket %s", typo)
	}
}
