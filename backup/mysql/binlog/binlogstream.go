package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/opsteam/ops/backup/mysql/conn"
)

// Heartbeat and stall detection of a replication connection: the server
// sends a heartbeat after BinlogHeartbeat without events, so a connection
// that stays silent for binlogStall while the archiver waits is dead.
const (
	BinlogHeartbeat = 10 * time.Second
	binlogStall     = 4 * BinlogHeartbeat
)

// ErrBinlogUnavailable is matched by the error of a server that cannot
// send its binary log from the requested position (error 1236: the file
// was purged, or the position is beyond its end).
var ErrBinlogUnavailable = errors.New("the server cannot send the binary log from this position")

// BinlogStream is a replication connection that receives a server's binary
// log from a position, as a replica would. Create it with
// BinlogSource.Stream; it is not safe for concurrent use.
type BinlogStream struct {
	syncer *replication.BinlogSyncer
	st     *replication.BinlogStreamer
	dec    *BinlogDecoder
	from   BinlogPos
	waited time.Duration // time spent waiting since the last packet
	stall  time.Duration
}

// Stream registers with the server as a replica (server_id ServerID) and
// asks for its binary log from the position from: every event, including
// MariaDB's annotate events, as stored. Events come out of Next in order;
// Close ends the connection.
func (s *BinlogSource) Stream(ctx context.Context, from BinlogPos) (*BinlogStream, error) {
	if from.Pos > math.MaxUint32 {
		return nil, fmt.Errorf("binlog position %s is beyond what the replication protocol can ask for", from)
	}
	r, err := conn.Resolve(s.m, s.log, os.UserHomeDir)
	if err != nil {
		return nil, err
	}
	cfg := replication.BinlogSyncerConfig{
		ServerID:         s.serverID,
		Flavor:           gm.MySQLFlavor,
		User:             r.User,
		Password:         r.Password,
		RawModeEnabled:   true,
		DisableRetrySync: true, // the archiver restarts from what it stored, never from what it was sent
		HeartbeatPeriod:  BinlogHeartbeat,
		Logger:           slog.New(debugHandler{s.log.Handler()}),
		EventCacheCount:  1024,
		Localhost:        "ops-binlog",
	}
	if s.srv.MariaDB {
		cfg.Flavor = gm.MariaDBFlavor
		// Without this flag MariaDB leaves its annotate events out of the
		// stream, and the archived log would have holes.
		cfg.DumpCommandFlag = replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	host := "localhost"
	if r.Net == "unix" {
		cfg.Host = r.Addr
	} else {
		h, p, err := net.SplitHostPort(r.Addr)
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(p)
		cfg.Host, cfg.Port, host = h, uint16(port), h
	}
	t := s.m.TLS
	if t.Mode == "" {
		t.Mode = conn.DefaultTLSMode
	}
	if t.Mode != "preferred" || s.tls {
		tc, _, err := conn.TLSConfig(t, host)
		if err != nil {
			return nil, err
		}
		cfg.TLSConfig = tc
	}
	d := net.Dialer{Timeout: s.m.EffectiveTimeout(), KeepAlive: 30 * time.Second}
	cfg.Dialer = d.DialContext
	syncer := replication.NewBinlogSyncer(cfg)
	st, err := syncer.StartSync(gm.Position{Name: from.File, Pos: uint32(from.Pos)})
	if err != nil {
		syncer.Close()
		return nil, s.explainStreamErr(err, from)
	}
	return &BinlogStream{syncer: syncer, st: st, dec: NewBinlogDecoder(from), from: from, stall: binlogStall}, nil
}

// explainStreamErr says what to change for the errors a replica
// registration or dump can meet.
func (s *BinlogSource) explainStreamErr(err error, from BinlogPos) error {
	var me *gm.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case 1227, 1044, 1045, 1142:
			return prereqf("the server refused the replication connection of %s (error %d: %s): the archiver needs GRANT REPLICATION SLAVE ON *.* TO %s",
				accountOrPlaceholder(s.account), me.Code, me.Message, accountOrPlaceholder(s.account))
		case 1236:
			return fmt.Errorf("streaming the binary log from %s: %w: %s", from, ErrBinlogUnavailable, me.Message)
		}
	}
	return fmt.Errorf("streaming the binary log from %s: %w", from, err)
}

// Next returns the next event; it blocks until one arrives, the stream
// fails, or ctx ends (then ctx's error is returned and the stream can still
// be read). Artificial events (heartbeats, the rotate and format
// description a dump starts with) are returned too, marked as such.
func (b *BinlogStream) Next(ctx context.Context) (*BinlogEvent, error) {
	for {
		wait := b.stall - b.waited
		if wait <= 0 {
			return nil, fmt.Errorf("the replication connection has been silent for %s (no event, no heartbeat): the server or the network is gone", b.stall)
		}
		t0 := time.Now()
		c, cancel := context.WithTimeout(ctx, wait)
		ev, err := b.st.GetEvent(c)
		cancel()
		if err != nil {
			b.waited += time.Since(t0)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			var me *gm.MyError
			if errors.As(err, &me) && me.Code == 1236 {
				return nil, fmt.Errorf("binary log at %s: %w: %s", b.dec.Position(), ErrBinlogUnavailable, me.Message)
			}
			return nil, fmt.Errorf("binary log at %s: %w", b.dec.Position(), err)
		}
		b.waited = 0
		raw := make([]byte, len(ev.RawData))
		copy(raw, ev.RawData)
		return b.dec.Decode(raw)
	}
}

// InTransaction reports whether the last event left a transaction open.
func (b *BinlogStream) InTransaction() bool { return b.dec.InTransaction() }

// Format is the format description of the file being read (nil before the
// first event that carries it).
func (b *BinlogStream) Format() *FormatDescription { return b.dec.Format() }

// Close ends the replication connection.
func (b *BinlogStream) Close() { b.syncer.Close() }

// debugHandler passes go-mysql's log records on at debug level at most
// (it logs every reconnect and close at info and error).
type debugHandler struct{ h slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r2 := slog.NewRecord(r.Time, slog.LevelDebug, "go-mysql: "+r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "config" { // the syncer logs its configuration (without the password); not needed
			r2.AddAttrs(a)
		}
		return true
	})
	return d.h.Handle(ctx, r2)
}

func (d debugHandler) WithAttrs(as []slog.Attr) slog.Handler { return debugHandler{d.h.WithAttrs(as)} }
func (d debugHandler) WithGroup(n string) slog.Handler       { return debugHandler{d.h.WithGroup(n)} }
