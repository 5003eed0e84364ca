package binlogfake

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
)

// ServerVersion is what the fake's format descriptions say.
const ServerVersion = "10.11.99-MariaDB-fake-log"

// Server is an in-memory MariaDB-like binary log. The zero value is not
// usable; call New. It is safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	cond     *sync.Cond
	serverID uint32
	files    []*file
	gtid     binlog.GTIDState
	seq      uint64
	clock    func() time.Time
	failNext error // the next dump fails with it
}

type file struct {
	name string
	data []byte
}

// New returns a server with one binary log file, binlog.000001.
func New(serverID uint32) *Server {
	s := &Server{serverID: serverID, gtid: binlog.GTIDState{}, clock: time.Now}
	s.cond = sync.NewCond(&s.mu)
	s.newFile("binlog.000001")
	return s
}

// SetClock replaces the clock that stamps events.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = now
}

func (s *Server) cur() *file { return s.files[len(s.files)-1] }

// newFile starts a file: format description, Gtid_list, checkpoint.
func (s *Server) newFile(name string) {
	f := &file{name: name, data: bytes.Clone(binlog.BinlogMagic)}
	s.files = append(s.files, f)
	s.append(binlog.EventFormatDesc, 0, fdeBody())
	list := make([]byte, 4, 4+16*len(s.gtid))
	binary.LittleEndian.PutUint32(list, uint32(len(s.gtid)))
	for _, g := range splitState(s.gtid.String()) {
		var e [16]byte
		binary.LittleEndian.PutUint32(e[0:], g.domain)
		binary.LittleEndian.PutUint32(e[4:], g.server)
		binary.LittleEndian.PutUint64(e[8:], g.seq)
		list = append(list, e[:]...)
	}
	s.append(binlog.EventGTIDList, 0, list)
	s.append(binlog.EventBinlogCheckpoint, 0, checkpointBody(name))
}

type gtidParts struct {
	domain, server uint32
	seq            uint64
}

func splitState(st string) []gtidParts {
	var out []gtidParts
	for _, p := range bytes.Split([]byte(st), []byte(",")) {
		if len(p) == 0 {
			continue
		}
		var g gtidParts
		fmt.Sscanf(string(p), "%d-%d-%d", &g.domain, &g.server, &g.seq) //nolint:errcheck
		out = append(out, g)
	}
	return out
}

func fdeBody() []byte {
	b := make([]byte, 2+50+4+1)
	binary.LittleEndian.PutUint16(b, 4)
	copy(b[2:], ServerVersion)
	b[56] = 19
	ph := make([]byte, 168)
	ph[binlog.EventQuery-1] = 13
	ph[binlog.EventRotate-1] = 8
	ph[binlog.EventTableMap-1] = 8
	b = append(b, ph...)
	return append(b, 1) // CRC32
}

func checkpointBody(name string) []byte {
	b := make([]byte, 4, 4+len(name))
	binary.LittleEndian.PutUint32(b, uint32(len(name)))
	return append(b, name...)
}

// encode builds one event: header, body, CRC32. logPos is its end in
// the file (0 for artificial events).
func encode(ts uint32, typ byte, serverID uint32, logPos uint32, flags uint16, body []byte, crc bool) []byte {
	size := 19 + len(body)
	if crc {
		size += 4
	}
	b := make([]byte, 19, size)
	binary.LittleEndian.PutUint32(b[0:], ts)
	b[4] = typ
	binary.LittleEndian.PutUint32(b[5:], serverID)
	binary.LittleEndian.PutUint32(b[9:], uint32(size))
	binary.LittleEndian.PutUint32(b[13:], logPos)
	binary.LittleEndian.PutUint16(b[17:], flags)
	b = append(b, body...)
	if crc {
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b
}

// append writes an event at the end of the current file (lock held).
func (s *Server) append(typ byte, flags uint16, body []byte) {
	f := s.cur()
	end := uint32(len(f.data) + 19 + len(body) + 4)
	f.data = append(f.data, encode(uint32(s.clock().Unix()), typ, s.serverID, end, flags, body, true)...)
	s.cond.Broadcast()
}

func (s *Server) gtidEvent(standalone bool) {
	s.seq++
	body := make([]byte, 19)
	binary.LittleEndian.PutUint64(body, s.seq)
	binary.LittleEndian.PutUint32(body[8:], 0) // domain 0
	if standalone {
		body[12] = 1
	} else {
		body[12] = 0x0c // transactional, allow parallel
	}
	s.append(binlog.EventMariaGTID, 8, body)
	st, _ := binlog.ParseGTIDState(fmt.Sprintf("0-%d-%d", s.serverID, s.seq))
	s.gtid = st
}

func queryBody(db, q string) []byte {
	b := make([]byte, 13, 13+len(db)+1+len(q))
	b[8] = byte(len(db))
	b = append(b, db...)
	b = append(b, 0)
	return append(b, q...)
}

// Commit writes one transaction of row changes (GTID, annotate, table
// map, rows, XID) with rows bytes of row data, and returns its GTID.
func (s *Server) Commit(rows int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gtidEvent(false)
	s.append(binlog.EventAnnotateRows, 0, []byte("INSERT INTO t VALUES (…)"))
	s.append(binlog.EventTableMap, 0, bytes.Repeat([]byte{0x11}, 24))
	s.append(23, 0, bytes.Repeat([]byte{0x22}, max(rows, 1)))
	s.append(binlog.EventXID, 0, make([]byte, 8))
	return s.gtid.String()
}

// OpenTransaction writes the first events of a row transaction (GTID,
// annotate, table map, rows) without its XID, as a replica sees a
// transaction whose end has not arrived yet; EndTransaction writes the XID.
func (s *Server) OpenTransaction(rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gtidEvent(false)
	s.append(binlog.EventAnnotateRows, 0, []byte("INSERT INTO t VALUES (…)"))
	s.append(binlog.EventTableMap, 0, bytes.Repeat([]byte{0x11}, 24))
	s.append(23, 0, bytes.Repeat([]byte{0x22}, max(rows, 1)))
}

// EndTransaction ends the transaction OpenTransaction began.
func (s *Server) EndTransaction() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.append(binlog.EventXID, 0, make([]byte, 8))
}

// Statements writes one transaction in statement format (GTID, Query
// statements, Query COMMIT) and returns its GTID.
func (s *Server) Statements(stmts ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gtidEvent(false)
	for _, q := range stmts {
		s.append(binlog.EventQuery, 0, queryBody("test", q))
	}
	s.append(binlog.EventQuery, 0, queryBody("test", "COMMIT"))
	return s.gtid.String()
}

// DDL writes a standalone statement (GTID with the standalone flag, Query).
func (s *Server) DDL(q string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gtidEvent(true)
	s.append(binlog.EventQuery, 0, queryBody("test", q))
	return s.gtid.String()
}

// Rotate is FLUSH BINARY LOGS: a rotate event ends the current file and a
// new one starts.
func (s *Server) Rotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := binlog.NextBinlogFile(s.cur().name)
	body := binary.LittleEndian.AppendUint64(nil, 4)
	s.append(binlog.EventRotate, 0, append(body, next...))
	s.newFile(next)
}

// Restart is a server restart: Shutdown, then Startup.
func (s *Server) Restart() {
	s.Shutdown()
	s.Startup()
}

// Shutdown writes the stop event that ends the current file at a clean
// shutdown (the dumps see it; they are cut by Startup).
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.append(binlog.EventStop, 0, nil)
}

// Startup starts a new file (no rotate event before it) and cuts every
// dump, as a server that comes back.
func (s *Server) Startup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newFile(binlog.NextBinlogFile(s.cur().name))
	s.failNext = errors.New("fake server restarted")
	s.cond.Broadcast()
}

// Purge is PURGE BINARY LOGS TO name: every file before it is removed.
func (s *Server) Purge(to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.files) > 1 && s.files[0].name != to {
		s.files = s.files[1:]
	}
}

// Current is SHOW MASTER STATUS.
func (s *Server) Current() binlog.BinlogPos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return binlog.BinlogPos{File: s.cur().name, Pos: uint64(len(s.cur().data))}
}

// GTID is gtid_binlog_pos.
func (s *Server) GTID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gtid.String()
}

// Files is SHOW BINARY LOGS.
func (s *Server) Files() []binlog.BinlogFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]binlog.BinlogFile, len(s.files))
	for i, f := range s.files {
		out[i] = binlog.BinlogFile{Name: f.name, Size: uint64(len(f.data))}
	}
	return out
}

// FileData is a copy of a binary log file (nil when it does not exist).
func (s *Server) FileData(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.name == name {
			return bytes.Clone(f.data)
		}
	}
	return nil
}

// Inspect returns what binlog.BinlogSource.Inspect would.
func (s *Server) Inspect() *binlog.BinlogServer {
	return &binlog.BinlogServer{Version: ServerVersion, Flavor: binlog.FlavorMariaDB, ServerID: s.serverID, Format: "ROW",
		Checksum: "CRC32", Current: s.Current(), GTID: s.GTID(), Logs: s.Files()}
}

// GTIDAt is BINLOG_GTID_POS: the GTID position at p, found by reading the
// file from its Gtid_list.
func (s *Server) GTIDAt(p binlog.BinlogPos) (string, error) {
	data := s.FileData(p.File)
	if data == nil {
		return "", fmt.Errorf("no binary log %s", p.File)
	}
	tr, _ := binlog.NewGTIDTracker(binlog.FlavorMariaDB, "", false)
	err := binlog.ReadBinlogFile(bytes.NewReader(data), p.File, func(ev *binlog.BinlogEvent, off int64) error {
		if uint64(off) >= p.Pos {
			return errStop
		}
		return tr.Observe(ev)
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", err
	}
	return tr.String(), nil
}

var errStop = errors.New("stop")

// DropReplicas makes every running dump fail with err (as a server that
// drops its replicas); dumps started afterwards work.
func (s *Server) DropReplicas(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = err
	s.cond.Broadcast()
}

// Dump is a replication connection to the fake.
type Dump struct {
	s      *Server
	dec    *binlog.BinlogDecoder
	file   string
	off    int
	queue  [][]byte // artificial events to send first
	closed bool
}

// ErrGone is the error of a dump whose file was purged.
var ErrGone = fmt.Errorf("%w: could not find first log file name in binary log index file", binlog.ErrBinlogUnavailable)

// Dump starts sending the binary log from from, as COM_BINLOG_DUMP.
func (s *Server) Dump(from binlog.BinlogPos) (*Dump, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = nil
	var f *file
	for _, x := range s.files {
		if x.name == from.File {
			f = x
		}
	}
	d := &Dump{s: s, dec: binlog.NewBinlogDecoder(from), file: from.File, off: int(from.Pos)}
	if f == nil {
		d.queue = nil
		d.off = -1
		return d, nil
	}
	if from.Pos > uint64(len(f.data)) {
		return nil, fmt.Errorf("%w: position %d beyond the end of %s", binlog.ErrBinlogUnavailable, from.Pos, from.File)
	}
	d.queue = append(d.queue, fakeRotate(from, false))
	if from.Pos > 4 {
		fde := bytes.Clone(f.data[4 : 4+binary.LittleEndian.Uint32(f.data[4+9:])])
		binary.LittleEndian.PutUint32(fde[13:], 0)
		binary.LittleEndian.PutUint32(fde[len(fde)-4:], crc32.ChecksumIEEE(fde[:len(fde)-4]))
		d.queue = append(d.queue, fde)
	}
	return d, nil
}

func fakeRotate(to binlog.BinlogPos, crc bool) []byte {
	body := binary.LittleEndian.AppendUint64(nil, to.Pos)
	return encode(0, binlog.EventRotate, 0, 0, 0x20, append(body, to.File...), crc)
}

// Next returns the next event, blocking until there is one or ctx ends.
func (d *Dump) Next(ctx context.Context) (*binlog.BinlogEvent, error) {
	raw, err := d.next(ctx)
	if err != nil {
		return nil, err
	}
	return d.dec.Decode(raw)
}

func (d *Dump) next(ctx context.Context) ([]byte, error) {
	s := d.s
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.cond.Broadcast()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if d.closed {
			return nil, errors.New("dump closed")
		}
		if s.failNext != nil {
			return nil, s.failNext
		}
		if d.off < 0 {
			return nil, ErrGone
		}
		if len(d.queue) > 0 {
			raw := d.queue[0]
			d.queue = d.queue[1:]
			return raw, nil
		}
		idx := -1
		for i, f := range s.files {
			if f.name == d.file {
				idx = i
			}
		}
		if idx < 0 {
			return nil, ErrGone
		}
		f := s.files[idx]
		if d.off < len(f.data) {
			size := int(binary.LittleEndian.Uint32(f.data[d.off+9:]))
			raw := bytes.Clone(f.data[d.off : d.off+size])
			d.off += size
			return raw, nil
		}
		if idx < len(s.files)-1 { // the file is finished: on to the next one
			d.file, d.off = s.files[idx+1].name, 4
			d.queue = append(d.queue, fakeRotate(binlog.BinlogPos{File: d.file, Pos: 4}, true))
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.cond.Wait()
	}
}

// Close ends the dump.
func (d *Dump) Close() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.closed = true
	d.s.cond.Broadcast()
}
