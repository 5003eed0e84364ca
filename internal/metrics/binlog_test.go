package metrics

import (
	"testing"
	"time"
)

func TestBinlogCollector(t *testing.T) {
	t.Parallel()
	s := New()
	c := NewBinlogCollector()
	s.Registry().MustRegister(c)
	last := time.Unix(1_800_000_000, 0)
	c.Set("app", func() BinlogState {
		return BinlogState{LastEvent: last, Lag: 2500 * time.Millisecond, Silent: 45 * time.Second, Gaps: 2}
	})
	c.Set("new", func() BinlogState { return BinlogState{} })
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"ops_binlog_last_event_timestamp_seconds/app": 1_800_000_000,
		"ops_binlog_lag_seconds/app":                  2.5,
		"ops_binlog_lag_seconds/new":                  0, // nothing archived yet: no timestamp, no lag
		"ops_binlog_source_silent_seconds/app":        45,
		"ops_binlog_source_silent_seconds/new":        0,
		"ops_binlog_gaps/app":                         2,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["ops_binlog_last_event_timestamp_seconds/new"]; ok {
		t.Error("a job with no archived event has a last-event timestamp")
	}
	if st, ok := c.State("app"); !ok || st.Lag != 2500*time.Millisecond || !st.LastEvent.Equal(last) {
		t.Errorf("State(app) = %+v, %v", st, ok)
	}
	c.Remove("app")
	if _, ok := c.State("app"); ok {
		t.Error("State reports the removed job")
	}
	fams, _ = s.Registry().Gather()
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == "app" && f.GetName() != "ops_config_reloads_total" {
				t.Errorf("%s still reports the removed job", f.GetName())
			}
		}
	}
}
