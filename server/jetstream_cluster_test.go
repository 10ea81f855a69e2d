package server

import (
	"encoding/json"
	"testing"
)

func TestJetStreamClusterSplitDeliverReply(t *testing.T) {
	for _, c := range []struct {
		reply, subj, rep string
		ok               bool
	}{
		{"$JS.ACK.S.C.1.2.3.4.0@orders.new", "orders.new", "$JS.ACK.S.C.1.2.3.4.0", true},
		{"@orders.new", "orders.new", "", true},
		{"reply@example.com", "", "", false}, // an ordinary reply is never split
		{"$JS.ACK.S.C@", "", "", false},
		{"plain", "", "", false},
	} {
		subj, rep, ok := splitDeliverReply([]byte(c.reply))
		if ok != c.ok || subj != c.subj || string(rep) != c.rep {
			t.Errorf("%q: %q %q %v", c.reply, subj, rep, ok)
		}
	}
}

// newTestJSMeta is a meta state machine of a server that is in no stream's
// placement (its applies create nothing).
func newTestJSMeta(t *testing.T) *jsMeta {
	t.Helper()
	s, err := NewServer(&Options{NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &jsCluster{s: s, self: raftPeerID("other")}
	c.fsm = newJSMeta(c)
	return c.fsm
}

// The meta state survives a snapshot and restore: the same assignments,
// without the requests' replies (a restore answers nobody).
func TestJetStreamClusterMetaSnapshotRoundTrip(t *testing.T) {
	m := newTestJSMeta(t)
	c := m.c
	cfg := func(name string) *StreamConfig {
		c := &StreamConfig{Name: name, Subjects: []string{name}}
		setStreamDefaults(c)
		return c
	}
	for _, name := range []string{"B", "A"} {
		e, err := json.Marshal(&jsMetaEntry{Op: jsMetaAddStream, SA: &jsStreamAssignment{Account: "$G",
			Config: cfg(name), Peers: []string{raftPeerName(raftPeerID("x"))}, Reply: "_INBOX.1"}})
		if err != nil {
			t.Fatal(err)
		}
		m.Apply(1, e)
	}
	del, _ := json.Marshal(&jsMetaEntry{Op: jsMetaDelStream, SA: &jsStreamAssignment{Account: "$G", Config: cfg("B")}})
	m.Apply(2, del)
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m2 := newJSMeta(c)
	if err := m2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	got := m2.accountStreams("$G")
	if len(got) != 1 || got[0].Config.Name != "A" || got[0].Reply != "" || m2.lookup("$G", "B") != nil {
		t.Fatalf("restored %+v from %s", got, snap)
	}
	// A malformed entry is skipped, not applied.
	m2.Apply(3, []byte(`{"op":"add_stream"}`))
	if len(m2.accountStreams("$G")) != 1 {
		t.Fatal("a malformed entry changed the state")
	}
}

// FuzzJetStreamClusterMetaEntry: meta log entries and snapshots come from
// other servers; a bad one is skipped or refused, never a crash.
func FuzzJetStreamClusterMetaEntry(f *testing.F) {
	f.Add([]byte(`{"op":"add_stream","sa":{"account":"$G","config":{"name":"A","retention":"limits","storage":"file","discard":"old"},"peers":["x"]}}`))
	f.Add([]byte(`{"op":"del_stream","sa":{"account":"$G","config":{"name":"A"}}}`))
	f.Add([]byte(`{"streams":[{"account":"$G","config":{"name":"A"}},null]}`))
	f.Add([]byte(`{"op":"remove_peer","peer":"x","server_id":"NABC"}`))
	f.Add([]byte(`{"op":"group_id","group_id":"abc"}`))
	f.Add([]byte(`{"streams":[],"removed":{"x":""},"group_id":"abc"}`))
	f.Add([]byte(`{"op":"update_stream","sa":{"account":"$G","config":{"name":"A","num_replicas":3},"peers":["x","y","z"],"peer_ids":[1,2,3],"boot":[1],"group":"S-1"}}`))
	s, err := NewServer(&Options{NoLog: true, NoSigs: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &jsCluster{s: s, self: raftPeerID("other")}
		c.fsm = newJSMeta(c)
		c.fsm.Apply(1, data)
		c.fsm.Restore(data)
		c.fsm.Snapshot()
	})
}
