package binlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"time"
)

// BinlogMagic starts every binary log file.
var BinlogMagic = []byte{0xfe, 'b', 'i', 'n'}

// Event type codes (MySQL's log_event.h and MariaDB's log_event.h) that the
// decoder looks into. Every other event is carried as it is.
const (
	EventQuery            = 2
	EventStop             = 3
	EventRotate           = 4
	EventIntvar           = 5
	EventRand             = 13
	EventUserVar          = 14
	EventFormatDesc       = 15
	EventXID              = 16
	EventTableMap         = 19
	EventIncident         = 26
	EventHeartbeat        = 27
	EventGTID             = 33 // MySQL
	EventAnonymousGTID    = 34 // MySQL
	EventPreviousGTIDs    = 35 // MySQL
	EventXAPrepare        = 38
	EventHeartbeatV2      = 41 // MySQL 8
	EventAnnotateRows     = 160
	EventBinlogCheckpoint = 161
	EventMariaGTID        = 162
	EventGTIDList         = 163
	EventStartEncryption  = 164
	EventQueryCompressed  = 165
)

const (
	HeaderLen      = 19
	flagInUse      = 0x0001 // LOG_EVENT_BINLOG_IN_USE_F (format description only)
	flagArtificial = 0x0020 // LOG_EVENT_ARTIFICIAL_F

	checksumOff   = 0
	ChecksumCRC32 = 1
	checksumUndef = 255

	mariaFlStandalone = 0x01 // MariaDB GTID event flags2
)

var eventNames = map[byte]string{
	EventQuery: "Query", EventStop: "Stop", EventRotate: "Rotate", EventIntvar: "Intvar", EventRand: "Rand",
	EventUserVar: "User_var", EventFormatDesc: "Format_desc", EventXID: "Xid", EventTableMap: "Table_map",
	EventIncident: "Incident", EventHeartbeat: "Heartbeat", EventGTID: "Gtid", EventAnonymousGTID: "Anonymous_Gtid",
	EventPreviousGTIDs: "Previous_gtids", EventXAPrepare: "XA_prepare", EventHeartbeatV2: "Heartbeat_v2",
	EventAnnotateRows: "Annotate_rows", EventBinlogCheckpoint: "Binlog_checkpoint", EventMariaGTID: "Gtid",
	EventGTIDList: "Gtid_list", EventStartEncryption: "Start_encryption", EventQueryCompressed: "Query_compressed",
	23: "Write_rows_v1", 24: "Update_rows_v1", 25: "Delete_rows_v1", 30: "Write_rows", 31: "Update_rows",
	32: "Delete_rows", 29: "Rows_query", 40: "Transaction_payload", 17: "Begin_load_query", 18: "Execute_load_query",
	166: "Write_rows_compressed_v1", 167: "Update_rows_compressed_v1", 168: "Delete_rows_compressed_v1",
}

// BinlogEventName names an event type as SHOW BINLOG EVENTS does.
func BinlogEventName(t byte) string {
	if n, ok := eventNames[t]; ok {
		return n
	}
	return "Unknown_" + strconv.Itoa(int(t))
}

// BinlogEvent is one event of a binary log with what the archiver needs to
// know about it. Raw is the event as the server stores it (common header,
// body and checksum).
type BinlogEvent struct {
	Type      byte
	Timestamp uint32 // seconds since the epoch (the statement's start)
	ServerID  uint32
	Flags     uint16
	Raw       []byte

	// File is the binary log file the event is in; Start and End its
	// position there ([Start, End), End is its end_log_pos). They are
	// zero for an artificial event.
	File       string
	Start, End uint64
	// Artificial events are not part of any file: the rotate a dump
	// starts with, heartbeats, the format description resent when a dump
	// starts in the middle of a file.
	Artificial bool
	// Boundary reports that no transaction is open after this event: a
	// chunk of the log may end here.
	Boundary bool

	// Rotate is where the log continues (rotate events).
	Rotate BinlogPos
	// GTID is the GTID of the transaction a GTID event starts: MariaDB
	// "domain-server-sequence", MySQL "uuid:number".
	GTID string
	// GTIDState is the GTID state a Gtid_list (MariaDB) or Previous_gtids
	// (MySQL) event records at the start of its file.
	GTIDState string
	// gtidStateUnknown: a Previous_gtids event this decoder cannot render.
	gtidStateUnknown bool
	// Format is set for format description events.
	Format *FormatDescription
}

// Time is the event's timestamp.
func (e *BinlogEvent) Time() time.Time { return time.Unix(int64(e.Timestamp), 0).UTC() }

// TypeName names the event type.
func (e *BinlogEvent) TypeName() string { return BinlogEventName(e.Type) }

// FormatDescription is a decoded format description event: how the events
// after it are laid out.
type FormatDescription struct {
	BinlogVersion uint16
	ServerVersion string
	ChecksumAlg   byte // 0 none, 1 CRC32, 255 unknown (a server older than checksums)
	postHeader    []byte
	raw           []byte
}

// MariaDB reports whether a MariaDB server wrote the log.
func (f *FormatDescription) MariaDB() bool {
	return strings.Contains(strings.ToLower(f.ServerVersion), "mariadb")
}

// PostHeaderLen is the post-header length of an event type (0 when unknown).
func (f *FormatDescription) PostHeaderLen(t byte) int {
	if f == nil || int(t) < 1 || int(t) > len(f.postHeader) {
		return 0
	}
	return int(f.postHeader[t-1])
}

// ForFileStart returns the format description event to write at offset 4
// of a file that holds events from the middle of a binary log: its
// end_log_pos set to where it ends there, the in-use flag cleared (the
// file is complete) and its checksum recomputed. A dump that starts in the
// middle of a file resends the description with end_log_pos 0.
func (f *FormatDescription) ForFileStart() []byte {
	b := bytes.Clone(f.raw)
	binary.LittleEndian.PutUint32(b[13:], uint32(4+len(b)))
	binary.LittleEndian.PutUint16(b[17:], binary.LittleEndian.Uint16(b[17:])&^flagInUse)
	if f.ChecksumAlg == ChecksumCRC32 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	}
	return b
}

// ErrBinlogCorrupt is matched by the error of an event that cannot be
// read: a truncated event, a checksum mismatch, a position that does not
// follow the previous event.
var ErrBinlogCorrupt = errors.New("binary log event cannot be read")

// Corruptf is an ErrBinlogCorrupt error; format may wrap a cause with %w.
func Corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBinlogCorrupt}, args...)...)
}

// BinlogDecoder decodes the events of one binary log stream in order: it
// follows the file and position through rotations, checks every event's
// checksum and that its position follows the previous event's, and keeps
// track of transactions so that each event says whether one is open after
// it.
type BinlogDecoder struct {
	file string
	pos  uint64 // where the next event of file starts; 0 = not known yet
	fde  *FormatDescription

	inTrx      bool
	standalone bool // the open group ends after its next statement (DDL, or a statement outside BEGIN…COMMIT)
}

// NewBinlogDecoder starts decoding at p (a zero Pos: the first event sets it).
func NewBinlogDecoder(p BinlogPos) *BinlogDecoder {
	return &BinlogDecoder{file: p.File, pos: p.Pos}
}

// Position is where the next event of the log starts.
func (d *BinlogDecoder) Position() BinlogPos { return BinlogPos{File: d.file, Pos: d.pos} }

// InTransaction reports whether a transaction is open after the last event.
func (d *BinlogDecoder) InTransaction() bool { return d.inTrx }

// Format is the last format description seen (nil before the first).
func (d *BinlogDecoder) Format() *FormatDescription { return d.fde }

// Decode decodes the next event. raw is kept in the result.
func (d *BinlogDecoder) Decode(raw []byte) (*BinlogEvent, error) {
	if len(raw) < HeaderLen {
		return nil, Corruptf("event of %d bytes is shorter than its header", len(raw))
	}
	e := &BinlogEvent{
		Timestamp: binary.LittleEndian.Uint32(raw[0:]),
		Type:      raw[4],
		ServerID:  binary.LittleEndian.Uint32(raw[5:]),
		Flags:     binary.LittleEndian.Uint16(raw[17:]),
		Raw:       raw,
	}
	size := binary.LittleEndian.Uint32(raw[9:])
	logPos := uint64(binary.LittleEndian.Uint32(raw[13:]))
	if int(size) != len(raw) {
		return nil, Corruptf("%s event says it has %d bytes, got %d", e.TypeName(), size, len(raw))
	}
	e.Artificial = e.Flags&flagArtificial != 0 || e.Type == EventHeartbeat || e.Type == EventHeartbeatV2 ||
		(logPos == 0 && (e.Type == EventFormatDesc || e.Type == EventRotate))
	body := raw[HeaderLen:]
	if e.Type == EventFormatDesc {
		f, err := decodeFDE(raw)
		if err != nil {
			return nil, err
		}
		e.Format = f
		d.fde = f
	} else if d.fde != nil && d.fde.ChecksumAlg == ChecksumCRC32 && !(e.Artificial && e.Type == EventRotate && !d.fakeRotateHasCRC(raw)) {
		if len(body) < 4 {
			return nil, Corruptf("%s event too short for its checksum", e.TypeName())
		}
		want := binary.LittleEndian.Uint32(raw[len(raw)-4:])
		if got := crc32.ChecksumIEEE(raw[:len(raw)-4]); got != want && e.Type != EventHeartbeat && e.Type != EventHeartbeatV2 {
			return nil, Corruptf("%s event at %s:%d: checksum %08x, expected %08x", e.TypeName(), d.file, logPos, got, want)
		}
		body = body[:len(body)-4]
	}
	if !e.Artificial {
		if logPos == 0 { // MariaDB 11.4+ may leave end_log_pos 0 in the stream
			if d.pos == 0 {
				return nil, Corruptf("%s event without a position at an unknown position", e.TypeName())
			}
			logPos = d.pos + uint64(size)
		}
		if logPos < uint64(size) {
			return nil, Corruptf("%s event ends at %d but has %d bytes", e.TypeName(), logPos, size)
		}
		e.File, e.Start, e.End = d.file, logPos-uint64(size), logPos
		if d.pos != 0 && e.Start != d.pos {
			return nil, Corruptf("%s event at %s:%d does not follow the previous event, which ended at %d", e.TypeName(), d.file, e.Start, d.pos)
		}
		d.pos = e.End
	}
	if err := d.decodeBody(e, body); err != nil {
		return nil, err
	}
	return e, nil
}

// fakeRotateHasCRC tells whether an artificial rotate carries a checksum:
// the one a dump starts with does not (the client said it does not want
// one), later ones do. Checked by value, which is unambiguous enough for an
// artificial event that is never stored.
func (d *BinlogDecoder) fakeRotateHasCRC(raw []byte) bool {
	return len(raw) >= HeaderLen+4 && crc32.ChecksumIEEE(raw[:len(raw)-4]) == binary.LittleEndian.Uint32(raw[len(raw)-4:])
}

func (d *BinlogDecoder) decodeBody(e *BinlogEvent, body []byte) error {
	switch e.Type {
	case EventRotate:
		off := d.fde.PostHeaderLen(EventRotate)
		if off == 0 {
			off = 8
		}
		if len(body) < off {
			return Corruptf("rotate event too short")
		}
		e.Rotate = BinlogPos{File: string(body[off:]), Pos: binary.LittleEndian.Uint64(body)}
		if e.Rotate.File == "" {
			return Corruptf("rotate event without a file name")
		}
		d.file, d.pos = e.Rotate.File, e.Rotate.Pos
		e.Boundary = !d.inTrx
	case EventMariaGTID:
		if len(body) < 13 {
			return Corruptf("GTID event too short")
		}
		seq := binary.LittleEndian.Uint64(body)
		domain := binary.LittleEndian.Uint32(body[8:])
		e.GTID = fmt.Sprintf("%d-%d-%d", domain, e.ServerID, seq)
		d.inTrx, d.standalone = true, body[12]&mariaFlStandalone != 0
	case EventGTID, EventAnonymousGTID:
		if len(body) < 25 {
			return Corruptf("GTID event too short")
		}
		if e.Type == EventGTID {
			e.GTID = formatUUID(body[1:17]) + ":" + strconv.FormatInt(int64(binary.LittleEndian.Uint64(body[17:])), 10)
		}
		// A BEGIN query follows for a transaction; a DDL statement comes alone.
		d.inTrx, d.standalone = true, true
	case EventQuery, EventQueryCompressed:
		q := ""
		if e.Type == EventQuery {
			q = d.queryText(body)
		}
		switch {
		case q == "BEGIN" || strings.HasPrefix(q, "XA START") || strings.HasPrefix(q, "XA BEGIN"):
			d.inTrx, d.standalone = true, false
		case q == "COMMIT" || q == "ROLLBACK" || strings.HasPrefix(q, "XA COMMIT") || strings.HasPrefix(q, "XA ROLLBACK"):
			d.inTrx = false
		case !d.inTrx || d.standalone:
			d.inTrx = false
		}
		e.Boundary = !d.inTrx
	case EventXID, EventXAPrepare:
		d.inTrx = false
		e.Boundary = true
	case EventIntvar, EventRand, EventUserVar:
		// They prefix a statement: outside a transaction, the group ends
		// after that statement.
		if !d.inTrx {
			d.inTrx, d.standalone = true, true
		}
	case EventGTIDList:
		s, err := decodeGTIDList(body)
		if err != nil {
			return err
		}
		e.GTIDState = s
		e.Boundary = !d.inTrx
	case EventPreviousGTIDs:
		e.GTIDState, e.gtidStateUnknown = decodePreviousGTIDs(body)
		e.Boundary = !d.inTrx
	case EventStartEncryption:
		return fmt.Errorf("%w: the binary log is encrypted (encrypt_binlog=ON): the archiver cannot store it readably; turn encrypt_binlog off or archive the files another way", ErrBinlogPrerequisite)
	default:
		e.Boundary = !d.inTrx
	}
	return nil
}

// queryText returns the upper-cased, trimmed start of a query event's
// statement (enough to recognise BEGIN, COMMIT, XA …).
func (d *BinlogDecoder) queryText(body []byte) string {
	ph := d.fde.PostHeaderLen(EventQuery)
	if ph == 0 {
		ph = 13
	}
	if len(body) < ph || ph < 11 {
		return ""
	}
	dbLen := int(body[8])
	status := 0
	if ph >= 13 {
		status = int(binary.LittleEndian.Uint16(body[11:]))
	}
	start := ph + status + dbLen + 1
	if start > len(body) {
		return ""
	}
	q := body[start:]
	if len(q) > 64 {
		q = q[:64]
	}
	return strings.ToUpper(strings.TrimSpace(string(q)))
}

func decodeFDE(raw []byte) (*FormatDescription, error) {
	body := raw[HeaderLen:]
	if len(body) < 57 {
		return nil, Corruptf("format description event too short (%d bytes)", len(raw))
	}
	f := &FormatDescription{BinlogVersion: binary.LittleEndian.Uint16(body), raw: raw}
	v := body[2:52]
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	f.ServerVersion = string(v)
	if body[56] != HeaderLen {
		return nil, Corruptf("format description event: header length %d, expected %d", body[56], HeaderLen)
	}
	f.ChecksumAlg = checksumUndef
	ph := body[57:]
	if checksumAware(f.ServerVersion) && len(ph) >= 5 {
		f.ChecksumAlg = ph[len(ph)-5]
		ph = ph[:len(ph)-5]
		if f.ChecksumAlg == ChecksumCRC32 {
			// The server computes it with the in-use flag cleared: the flag
			// is set in place while the file is written and cleared at close.
			want := binary.LittleEndian.Uint32(raw[len(raw)-4:])
			c := bytes.Clone(raw[:len(raw)-4])
			binary.LittleEndian.PutUint16(c[17:], binary.LittleEndian.Uint16(c[17:])&^flagInUse)
			if got := crc32.ChecksumIEEE(c); got != want {
				return nil, Corruptf("format description event: checksum %08x, expected %08x", got, want)
			}
		}
	}
	f.postHeader = bytes.Clone(ph)
	return f, nil
}

// checksumAware reports whether a server of this version writes the
// checksum algorithm in its format description (MySQL 5.6.1, MariaDB 5.3).
func checksumAware(version string) bool {
	maj, min, patch := conn.ParseVersion(version)
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return maj > 5 || (maj == 5 && min >= 3)
	}
	return maj > 5 || (maj == 5 && (min > 6 || (min == 6 && patch >= 1)))
}

// decodeGTIDList turns a MariaDB Gtid_list event into gtid_binlog_pos form:
// the last GTID of each domain.
func decodeGTIDList(body []byte) (string, error) {
	if len(body) < 4 {
		return "", Corruptf("Gtid_list event too short")
	}
	n := int(binary.LittleEndian.Uint32(body) & (1<<28 - 1))
	if len(body) < 4+16*n {
		return "", Corruptf("Gtid_list event of %d GTIDs too short", n)
	}
	st := GTIDState{}
	for i := 0; i < n; i++ {
		p := body[4+16*i:]
		st.addMaria(binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:]), binary.LittleEndian.Uint64(p[8:]))
	}
	return st.String(), nil
}

// decodePreviousGTIDs renders a MySQL Previous_gtids event as a GTID set
// (uuid:a-b:c-d,…); unknown when it cannot (tagged GTIDs, a short event).
func decodePreviousGTIDs(body []byte) (set string, unknown bool) {
	if len(body) < 8 {
		return "", true
	}
	n := binary.LittleEndian.Uint64(body)
	if n>>56 != 0 { // tagged format (MySQL 8.3+): not rendered
		return "", true
	}
	p := body[8:]
	var sets []string
	for i := uint64(0); i < n; i++ {
		if len(p) < 24 {
			return "", true
		}
		sid := formatUUID(p[:16])
		k := binary.LittleEndian.Uint64(p[16:])
		p = p[24:]
		parts := []string{sid}
		for j := uint64(0); j < k; j++ {
			if len(p) < 16 {
				return "", true
			}
			a, b := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])
			p = p[16:]
			if b == a+1 {
				parts = append(parts, strconv.FormatUint(a, 10))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", a, b-1))
			}
		}
		sets = append(sets, strings.Join(parts, ":"))
	}
	return strings.Join(sets, ","), false
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ReadBinlogFile reads a binary log file (or a chunk of one written by the
// archiver: a format description, then events from the middle of a log)
// and calls fn for every event with its offset in the file. name is the
// binary log file the events belong to (chunks keep their original
// positions, which are not their offsets). Events are checked like a
// stream's: checksums, and positions that follow one another after the
// format description.
func ReadBinlogFile(r io.Reader, name string, fn func(ev *BinlogEvent, offset int64) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(br, magic); err != nil {
		return Corruptf("reading the binary log magic: %w", err)
	}
	if !bytes.Equal(magic, BinlogMagic) {
		return Corruptf("not a binary log: it starts with %x, expected %x", magic, BinlogMagic)
	}
	d := NewBinlogDecoder(BinlogPos{File: name})
	off := int64(4)
	hdr := make([]byte, HeaderLen)
	for {
		if _, err := io.ReadFull(br, hdr); err == io.EOF {
			return nil
		} else if err != nil {
			return Corruptf("event at offset %d: truncated header: %w", off, err)
		}
		size := binary.LittleEndian.Uint32(hdr[9:])
		if size < HeaderLen || size > 1<<30 {
			return Corruptf("event at offset %d: size %d", off, size)
		}
		raw := make([]byte, size)
		copy(raw, hdr)
		if _, err := io.ReadFull(br, raw[HeaderLen:]); err != nil {
			return Corruptf("event at offset %d: truncated (%d bytes expected): %w", off, size, err)
		}
		ev, err := d.Decode(raw)
		if err != nil {
			return fmt.Errorf("event at offset %d: %w", off, err)
		}
		if ev.Type == EventFormatDesc {
			d.pos = 0 // a chunk's events start where they were in the original log
		}
		if err := fn(ev, off); err != nil {
			return err
		}
		off += int64(size)
	}
}
