package schema

import (
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"strings"
)

// StoredObject is a view, routine, trigger or event as a dump wrote it.
type StoredObject struct {
	Kind     string `json:"kind"` // VIEW, PROCEDURE, FUNCTION, TRIGGER, EVENT
	Database string `json:"database"`
	Name     string `json:"name"`
	// Definer is `user`@`host` (quoted as QuoteIdent does), or "" when the
	// CREATE has no DEFINER clause.
	Definer string `json:"definer,omitempty"`
	// Enabled is set for an event created ENABLE.
	Enabled bool `json:"enabled,omitempty"`
}

func ObjectKey(kind, db, name string) string {
	return strings.ToUpper(kind) + "\x00" + db + "\x00" + name
}

// StoredObjects lists the views, routines, triggers and events of a dumped
// database with their definer and (events) state, read from the CREATE
// text the dump writes by the reading the restore applies. An object whose
// head cannot be read is left out (the restore then trusts it with nothing).
func StoredObjects(m *DBMeta) []StoredObject {
	var out []StoredObject
	add := func(kind, name, create string) {
		h, err := sqltext.ReadCreateHead(create, sqltext.LexState{}) // SHOW CREATE's text: utf8mb4
		if err != nil || h == nil {
			return
		}
		o := StoredObject{Kind: kind, Database: m.Name, Name: name, Definer: h.Definer()}
		if kind == "EVENT" {
			o.Enabled = h.Enable[1] > 0
		}
		out = append(out, o)
	}
	for _, v := range m.Views {
		add("VIEW", v.Name, v.CreateSQL)
	}
	for _, list := range [][]*ObjDDL{m.Routines, m.Triggers, m.Events} {
		for _, o := range list {
			add(o.Kind, o.Name, o.Body)
		}
	}
	return out
}
