package server

import (
	"encoding/json"
	"testing"
)

// The removed peers and the group id survive a snapshot and restore; a
// readmission clears a removal; the first group id proposed wins.
func TestJetStreamClusterMetaPeersSnapshot(t *testing.T) {
	m := newTestJSMeta(t)
	c := m.c
	apply := func(e jsMetaEntry) {
		b, _ := json.Marshal(&e)
		m.Apply(1, b)
	}
	apply(jsMetaEntry{Op: jsMetaGroupIDOp, GroupID: "first"})
	apply(jsMetaEntry{Op: jsMetaGroupIDOp, GroupID: "second"})
	apply(jsMetaEntry{Op: jsMetaRemovePeer, Peer: "AAAAAAAA", ServerID: "N1"})
	apply(jsMetaEntry{Op: jsMetaRemovePeer, Peer: "BBBBBBBB", ServerID: "N2"})
	apply(jsMetaEntry{Op: jsMetaReadmitPeer, Peer: "BBBBBBBB"})
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m2 := newJSMeta(c)
	if err := m2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if m2.groupIDOf() != "first" {
		t.Fatalf("group id %q", m2.groupIDOf())
	}
	if r := m2.removedPeers(); len(r) != 1 || r["AAAAAAAA"] != "N1" {
		t.Fatalf("removed %v from %s", r, snap)
	}
}
