package binlog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// GTIDState is a MariaDB GTID position in gtid_binlog_pos form: the last
// GTID of each replication domain (domain-server-sequence, comma-separated,
// by domain).
type GTIDState map[uint32]mariaGTID

type mariaGTID struct {
	server uint32
	seq    uint64
}

// ParseGTIDState parses a gtid_binlog_pos value ("" is the empty state).
func ParseGTIDState(s string) (GTIDState, error) {
	st := GTIDState{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, srv, seq, err := parseMariaGTID(part)
		if err != nil {
			return nil, err
		}
		st.addMaria(d, srv, seq)
	}
	return st, nil
}

func parseMariaGTID(s string) (domain, server uint32, seq uint64, err error) {
	f := strings.Split(s, "-")
	if len(f) != 3 {
		return 0, 0, 0, fmt.Errorf("GTID %q: expected domain-server-sequence", s)
	}
	d, err1 := strconv.ParseUint(f[0], 10, 32)
	sv, err2 := strconv.ParseUint(f[1], 10, 32)
	sq, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, fmt.Errorf("GTID %q: expected domain-server-sequence numbers", s)
	}
	return uint32(d), uint32(sv), sq, nil
}

// addMaria keeps the highest sequence number of each domain.
func (g GTIDState) addMaria(domain, server uint32, seq uint64) {
	if cur, ok := g[domain]; ok && cur.seq > seq {
		return
	}
	g[domain] = mariaGTID{server, seq}
}

// String renders the state (domains in order).
func (g GTIDState) String() string {
	doms := make([]uint32, 0, len(g))
	for d := range g {
		doms = append(doms, d)
	}
	slices.Sort(doms)
	parts := make([]string, len(doms))
	for i, d := range doms {
		parts[i] = fmt.Sprintf("%d-%d-%d", d, g[d].server, g[d].seq)
	}
	return strings.Join(parts, ",")
}

// Includes reports whether the transaction gtid (domain-server-sequence)
// is at or before the state in its domain.
func (g GTIDState) Includes(gtid string) bool {
	d, _, seq, err := parseMariaGTID(gtid)
	if err != nil {
		return false
	}
	cur, ok := g[d]
	return ok && seq <= cur.seq
}

// Covers reports whether every transaction of other is in g (other's
// position in each of its domains is at or before g's).
func (g GTIDState) Covers(other GTIDState) bool {
	for d, o := range other {
		if cur, ok := g[d]; !ok || cur.seq < o.seq {
			return false
		}
	}
	return true
}

// GTIDTracker follows the GTID position of a binary log while its events go
// by: a GTID event adds its transaction, a Gtid_list or Previous_gtids
// event at the start of a file sets the whole state. An empty tracker of
// unknown state stays unknown until such an event.
type GTIDTracker struct {
	flavor string
	known  bool
	maria  GTIDState
	mysql  *gm.MysqlGTIDSet
}

// NewGTIDTracker starts from state (gtid_binlog_pos on MariaDB,
// gtid_executed on MySQL); known says whether state is the real position
// ("" may also mean "no GTID yet").
func NewGTIDTracker(flavor, state string, known bool) (*GTIDTracker, error) {
	t := &GTIDTracker{flavor: flavor}
	if err := t.set(state); err != nil {
		return nil, err
	}
	t.known = known
	return t, nil
}

func (t *GTIDTracker) set(state string) error {
	t.known = true
	if t.flavor == FlavorMariaDB {
		st, err := ParseGTIDState(state)
		if err != nil {
			return err
		}
		t.maria = st
		return nil
	}
	set, err := gm.ParseMysqlGTIDSet(strings.ReplaceAll(state, "\n", ""))
	if err != nil {
		return fmt.Errorf("GTID set %q: %w", state, err)
	}
	t.mysql = set.(*gm.MysqlGTIDSet)
	return nil
}

// Observe updates the state with one event.
func (t *GTIDTracker) Observe(ev *BinlogEvent) error {
	switch {
	case ev.Artificial:
	case ev.gtidStateUnknown:
		t.known = false
	case ev.Type == EventGTIDList || ev.Type == EventPreviousGTIDs:
		return t.set(ev.GTIDState)
	case ev.GTID == "" || !t.known:
	case t.flavor == FlavorMariaDB:
		if t.maria == nil {
			t.maria = GTIDState{}
		}
		d, srv, seq, err := parseMariaGTID(ev.GTID)
		if err != nil {
			return err
		}
		t.maria[d] = mariaGTID{srv, seq}
	default:
		g, err := gm.ParseMysqlGTIDSet(ev.GTID)
		if err != nil {
			return fmt.Errorf("GTID %q: %w", ev.GTID, err)
		}
		if err := t.mysql.Update(g.String()); err != nil {
			return fmt.Errorf("GTID %q: %w", ev.GTID, err)
		}
	}
	return nil
}

// String is the current state; "" when unknown.
func (t *GTIDTracker) String() string {
	if !t.known {
		return ""
	}
	if t.flavor == FlavorMariaDB {
		return t.maria.String()
	}
	return t.mysql.String()
}

// Known reports whether the state is known.
func (t *GTIDTracker) Known() bool { return t.known }
