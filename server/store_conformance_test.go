package server

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// storeKind opens stores of one kind; reopen (nil for memory) stops a store
// and opens it again from what it persisted.
type storeKind struct {
	name   string
	open   func(t *testing.T, cfg *StreamConfig) StreamStore
	reopen func(t *testing.T, st StreamStore) StreamStore
}

var storeKindsExtra []storeKind // File store kinds register here.

func storeKinds() []storeKind {
	mem := storeKind{name: "memory", open: func(t *testing.T, cfg *StreamConfig) StreamStore {
		ms, err := NewMemStore(cfg)
		if err != nil {
			t.Fatalf("NewMemStore: %v", err)
		}
		return ms
	}}
	return append([]storeKind{mem}, storeKindsExtra...)
}

func forEachStore(t *testing.T, fn func(t *testing.T, k storeKind)) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) { fn(t, k) })
	}
}

func storeMust(t *testing.T, st StreamStore, subj string, hdr, msg []byte) uint64 {
	t.Helper()
	seq, _, err := st.StoreMsg(subj, hdr, msg, 0)
	if err != nil {
		t.Fatalf("StoreMsg(%q): %v", subj, err)
	}
	return seq
}

func storeCheckMsg(t *testing.T, st StreamStore, seq uint64, subj string, hdr, msg []byte) {
	t.Helper()
	sm, err := st.LoadMsg(seq, nil)
	if err != nil {
		t.Fatalf("LoadMsg(%d): %v", seq, err)
	}
	if sm.Seq != seq || sm.Subject != subj || !bytes.Equal(sm.Hdr, hdr) || !bytes.Equal(sm.Msg, msg) {
		t.Fatalf("LoadMsg(%d) = %d %q %q %q, want %q %q %q", seq, sm.Seq, sm.Subject, sm.Hdr, sm.Msg, subj, hdr, msg)
	}
}

func storeRestart(t *testing.T, k storeKind, st StreamStore) StreamStore {
	if k.reopen == nil {
		return st
	}
	return k.reopen(t, st)
}

func TestStoreBasics(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S", Subjects: []string{"foo.>"}})
		defer st.Stop()
		before := time.Now().UnixNano()
		for i := 1; i <= 10; i++ {
			hdr := []byte(nil)
			if i%2 == 0 {
				hdr = []byte("NATS/1.0\r\nK: v\r\n\r\n")
			}
			seq, ts, err := st.StoreMsg(fmt.Sprintf("foo.%d", i%3), hdr, []byte(fmt.Sprintf("msg-%d", i)), 0)
			if err != nil || seq != uint64(i) || ts < before {
				t.Fatalf("StoreMsg %d: seq=%d ts=%d err=%v", i, seq, ts, err)
			}
		}
		for _, phase := range []string{"live", "restarted"} {
			if phase == "restarted" {
				st = storeRestart(t, k, st)
			}
			var fs StreamState
			st.FastState(&fs)
			if fs.Msgs != 10 || fs.FirstSeq != 1 || fs.LastSeq != 10 || fs.NumSubjects != 3 || fs.FirstTime.IsZero() || fs.LastTime.Before(fs.FirstTime) {
				t.Fatalf("%s: state %+v", phase, fs)
			}
			storeCheckMsg(t, st, 4, "foo.1", []byte("NATS/1.0\r\nK: v\r\n\r\n"), []byte("msg-4"))
			storeCheckMsg(t, st, 3, "foo.0", nil, []byte("msg-3"))
			if _, err := st.LoadMsg(11, nil); !errors.Is(err, ErrStoreEOF) {
				t.Fatalf("%s: LoadMsg past end: %v", phase, err)
			}
			if _, err := st.LoadMsg(0, nil); !errors.Is(err, ErrStoreMsgNotFound) {
				t.Fatalf("%s: LoadMsg(0): %v", phase, err)
			}
		}
		if _, _, err := st.StoreMsg("foo..x", nil, nil, 0); !errors.Is(err, ErrStoreInvalidSubject) {
			t.Fatalf("subject with an empty token stored: %v", err)
		}
		if err := st.StoreRawMsg("foo.x", nil, nil, 1<<63, 1, 0); !errors.Is(err, ErrStoreBadSequence) {
			t.Fatalf("sequence past 2^63-1 accepted: %v", err)
		}
		if err := st.SkipMsgs(11, 1<<63); !errors.Is(err, ErrStoreBadSequence) {
			t.Fatalf("skip past 2^63-1 accepted: %v", err)
		}
	})
}

func TestStoreLoadLastAndNext(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S"})
		defer st.Stop()
		subjs := []string{"a.x", "b.x", "a.y", "a.x", "c.z", "b.x"}
		for i, s := range subjs {
			storeMust(t, st, s, nil, []byte{byte(i)})
		}
		for _, phase := range []string{"live", "restarted"} {
			if phase == "restarted" {
				st = storeRestart(t, k, st)
			}
			last := map[string]uint64{"a.x": 4, "b.x": 6, "a.*": 4, "*.x": 6, ">": 6, "": 6, "c.>": 5, "a.y": 3}
			for f, want := range last {
				sm, err := st.LoadLastMsg(f, nil)
				if err != nil || sm.Seq != want {
					t.Fatalf("%s: LoadLastMsg(%q) = %v, %v; want %d", phase, f, sm, err, want)
				}
			}
			if _, err := st.LoadLastMsg("d", nil); !errors.Is(err, ErrStoreMsgNotFound) {
				t.Fatalf("LoadLastMsg(d): %v", err)
			}
			var got []uint64
			var sm StoreMsg
			for seq := uint64(1); ; {
				m, next, err := st.LoadNextMsg("a.*", seq, &sm)
				if errors.Is(err, ErrStoreEOF) {
					break
				}
				if err != nil || m.Seq != next {
					t.Fatalf("LoadNextMsg: %v", err)
				}
				got = append(got, next)
				seq = next + 1
			}
			if !reflect.DeepEqual(got, []uint64{1, 3, 4}) {
				t.Fatalf("%s: a.* walk = %v", phase, got)
			}
			if m, next, err := st.LoadNextMsg("b.x", 3, nil); err != nil || next != 6 || m.Subject != "b.x" {
				t.Fatalf("LoadNextMsg(b.x, 3) = %d %v", next, err)
			}
		}
		// Removing the last message of a subject moves last-by-subject back.
		if ok, err := st.RemoveMsg(6); !ok || err != nil {
			t.Fatalf("RemoveMsg: %v %v", ok, err)
		}
		if sm, err := st.LoadLastMsg("b.x", nil); err != nil || sm.Seq != 2 {
			t.Fatalf("LoadLastMsg after remove: %v %v", sm, err)
		}
		tot := st.SubjectsTotals("a.*")
		if !reflect.DeepEqual(tot, map[string]uint64{"a.x": 2, "a.y": 1}) {
			t.Fatalf("SubjectsTotals = %v", tot)
		}
		ss := st.SubjectsState(">")
		if ss["b.x"] != (SimpleState{Msgs: 1, First: 2, Last: 2}) || len(ss) != 4 {
			t.Fatalf("SubjectsState = %v", ss)
		}
	})
}

func TestStoreRemoveEraseState(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S"})
		defer st.Stop()
		for i := 0; i < 20; i++ {
			storeMust(t, st, "s", nil, []byte("payload-secret"))
		}
		for _, seq := range []uint64{1, 5, 6, 20} {
			if ok, err := st.RemoveMsg(seq); !ok || err != nil {
				t.Fatalf("RemoveMsg(%d) = %v %v", seq, ok, err)
			}
		}
		if ok, err := st.EraseMsg(10); !ok || err != nil {
			t.Fatalf("EraseMsg = %v %v", ok, err)
		}
		if ok, _ := st.RemoveMsg(5); ok {
			t.Fatal("removed twice")
		}
		for _, phase := range []string{"live", "restarted"} {
			if phase == "restarted" {
				st = storeRestart(t, k, st)
			}
			s := st.State()
			if s.Msgs != 15 || s.FirstSeq != 2 || s.LastSeq != 20 || !reflect.DeepEqual(s.Deleted, []uint64{5, 6, 10, 20}) || s.NumDeleted != 4 {
				t.Fatalf("%s: state %+v", phase, s)
			}
			if s.Bytes != 15*storeWantBytes(k, "s", nil, []byte("payload-secret")) {
				t.Fatalf("%s: bytes %d", phase, s.Bytes)
			}
			if _, err := st.LoadMsg(10, nil); !errors.Is(err, ErrStoreMsgNotFound) {
				t.Fatalf("erased message loaded: %v", err)
			}
		}
		// The last sequence survives removing the last message.
		if seq := storeMust(t, st, "s", nil, nil); seq != 21 {
			t.Fatalf("next seq %d", seq)
		}
	})
}

func TestStorePurgeCompactTruncate(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S"})
		defer st.Stop()
		for i := 1; i <= 30; i++ {
			storeMust(t, st, fmt.Sprintf("k.%d", i%3), nil, []byte{byte(i)})
		}
		if n, err := st.PurgeEx("k.1", 0, 2); err != nil || n != 8 {
			t.Fatalf("PurgeEx keep: %d %v", n, err)
		}
		if n, err := st.PurgeEx("k.2", 10, 0); err != nil || n != 3 {
			t.Fatalf("PurgeEx seq: %d %v", n, err)
		}
		if n, err := st.PurgeEx("k.*", 0, 1); err != nil || n != 16 {
			t.Fatalf("PurgeEx wildcard keep: %d %v", n, err)
		}
		st = storeRestart(t, k, st)
		if tot := st.SubjectsTotals(""); !reflect.DeepEqual(tot, map[string]uint64{"k.0": 1, "k.1": 1, "k.2": 1}) {
			t.Fatalf("totals %v", tot)
		}
		for i := 31; i <= 40; i++ {
			storeMust(t, st, "z", nil, []byte{byte(i)})
		}
		if n, err := st.Compact(35); err != nil || n != 7 {
			t.Fatalf("Compact: %d %v", n, err)
		}
		if err := st.Truncate(38); err != nil {
			t.Fatal(err)
		}
		for _, phase := range []string{"live", "restarted"} {
			if phase == "restarted" {
				st = storeRestart(t, k, st)
			}
			var s StreamState
			st.FastState(&s)
			if s.Msgs != 4 || s.FirstSeq != 35 || s.LastSeq != 38 {
				t.Fatalf("%s after compact/truncate: %+v", phase, s)
			}
		}
		if seq := storeMust(t, st, "z", nil, []byte("new")); seq != 39 {
			t.Fatalf("seq after truncate %d", seq)
		}
		storeCheckMsg(t, st, 39, "z", nil, []byte("new"))
		if n, err := st.Purge(); err != nil || n != 5 {
			t.Fatalf("Purge: %d %v", n, err)
		}
		if n, err := st.Compact(100); err != nil || n != 0 {
			t.Fatalf("Compact beyond: %d %v", n, err)
		}
		st = storeRestart(t, k, st)
		var s StreamState
		st.FastState(&s)
		if s.Msgs != 0 || s.FirstSeq != 100 || s.LastSeq != 99 {
			t.Fatalf("after purge: %+v", s)
		}
		if seq := storeMust(t, st, "z", nil, nil); seq != 100 {
			t.Fatalf("seq after compact beyond: %d", seq)
		}
	})
}

func TestStoreLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S", MaxMsgs: 5, MaxMsgsPer: 2})
		for i := 1; i <= 10; i++ {
			storeMust(t, st, fmt.Sprintf("s.%d", i%4), nil, []byte{byte(i)})
		}
		var s StreamState
		st.FastState(&s)
		if s.Msgs != 5 || s.FirstSeq != 6 {
			t.Fatalf("max msgs: %+v", s)
		}
		for i := 0; i < 5; i++ {
			storeMust(t, st, "same", nil, []byte{byte(i)})
		}
		if n := st.SubjectsTotals("same")["same"]; n != 2 {
			t.Fatalf("per subject: %d", n)
		}
		st.Stop()

		size := storeWantBytes(k, "b", nil, make([]byte, 56))
		st = k.open(t, &StreamConfig{Name: "T", MaxBytes: int64(3 * size), Discard: DiscardNew, MaxMsgSize: 64})
		defer st.Stop()
		for i := 0; i < 3; i++ {
			storeMust(t, st, "b", nil, make([]byte, 56))
		}
		if _, _, err := st.StoreMsg("b", nil, make([]byte, 56), 0); !errors.Is(err, ErrMaxBytes) {
			t.Fatalf("discard new bytes: %v", err)
		}
		if _, _, err := st.StoreMsg("b", nil, make([]byte, 65), 0); !errors.Is(err, ErrStoreMsgTooLarge) {
			t.Fatalf("max msg size: %v", err)
		}
		cfg := StreamConfig{Name: "T", MaxMsgs: 2, Discard: DiscardNew}
		if err := st.UpdateConfig(&cfg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.StoreMsg("b", nil, nil, 0); !errors.Is(err, ErrMaxMsgs) {
			t.Fatalf("discard new msgs: %v", err)
		}
		st.FastState(&s)
		if s.Msgs != 3 || s.FirstSeq != 1 {
			t.Fatalf("discard new removed messages: %+v", s)
		}
		st = storeRestart(t, k, st)
		if _, _, err := st.StoreMsg("b", nil, nil, 0); !errors.Is(err, ErrMaxMsgs) {
			t.Fatalf("config not kept across restart: %v", err)
		}
	})
}

// With one message per subject (a KV bucket's history 1), every store
// drops a key's older message: the key's first and last message are then
// the new one, in both directions of lookup.
func TestStoreHistoryOneKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S", MaxMsgsPer: 1})
		defer st.Stop()
		const keys, rounds = 10, 5
		for r := 0; r < rounds; r++ {
			for i := 0; i < keys; i++ {
				storeMust(t, st, fmt.Sprintf("k.%d", i), nil, []byte{byte(r)})
			}
		}
		var ss StreamState
		st.FastState(&ss)
		if ss.Msgs != keys || ss.FirstSeq != (rounds-1)*keys+1 {
			t.Fatalf("state %+v", ss)
		}
		for i := 0; i < keys; i++ {
			want := uint64((rounds-1)*keys + i + 1)
			subj := fmt.Sprintf("k.%d", i)
			var sm StoreMsg
			if m, err := st.LoadLastMsg(subj, &sm); err != nil || m.Seq != want {
				t.Fatalf("last of %s: %v %v, want %d", subj, m, err, want)
			}
			if m, _, err := st.LoadNextMsg(subj, 1, &sm); err != nil || m.Seq != want {
				t.Fatalf("first of %s: %v %v, want %d", subj, m, err, want)
			}
		}
		// The last key's message removed: its subject is gone.
		if ok, err := st.RemoveMsg(rounds * keys); !ok || err != nil {
			t.Fatalf("remove: %v %v", ok, err)
		}
		if n := st.SubjectsTotals("k.>")[fmt.Sprintf("k.%d", keys-1)]; n != 0 {
			t.Fatalf("removed key still counted: %d", n)
		}
	})
}

func storeWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreAgeAndTTL(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S", MaxAge: 150 * time.Millisecond, AllowMsgTTL: true})
		defer st.Stop()
		storeMust(t, st, "a", nil, []byte("old"))
		if _, _, err := st.StoreMsg("t", nil, []byte("ttl"), int64(30*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		storeWaitFor(t, 2*time.Second, "ttl expiry", func() bool {
			_, err := st.LoadMsg(2, nil)
			return errors.Is(err, ErrStoreMsgNotFound)
		})
		if _, err := st.LoadMsg(1, nil); err != nil {
			t.Fatalf("message expired before its age: %v", err)
		}
		storeWaitFor(t, 2*time.Second, "age expiry", func() bool {
			var s StreamState
			st.FastState(&s)
			return s.Msgs == 0 && s.FirstSeq == 3 && s.LastSeq == 2
		})
		// A TTL survives a restart (re-armed from the stored record).
		cfg := StreamConfig{Name: "S", AllowMsgTTL: true}
		if err := st.UpdateConfig(&cfg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.StoreMsg("t", nil, []byte("ttl"), int64(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		st = storeRestart(t, k, st)
		storeWaitFor(t, 2*time.Second, "ttl expiry after restart", func() bool {
			_, err := st.LoadMsg(3, nil)
			return errors.Is(err, ErrStoreMsgNotFound)
		})
		st.Stop()
	})
}

func TestStoreSnapshotRestore(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S", MaxMsgsPer: 100})
		for i := 1; i <= 50; i++ {
			storeMust(t, st, fmt.Sprintf("x.%d", i%5), []byte("NATS/1.0\r\n\r\n"), bytes.Repeat([]byte{byte(i)}, i))
		}
		st.RemoveMsg(7)
		st.Compact(3)
		o, err := st.ConsumerStore("dur")
		if err != nil {
			t.Fatal(err)
		}
		cs := &ConsumerState{Delivered: SequencePair{10, 12}, AckFloor: SequencePair{5, 6},
			Pending: map[uint64]*Pending{8: {Sequence: 7, Timestamp: 99}}, Redelivered: map[uint64]uint64{8: 2}}
		if err := o.Update(cs); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := st.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		want := st.State()
		st.Delete()
		for _, into := range storeKinds() {
			rs := into.open(t, &StreamConfig{Name: "S", MaxMsgsPer: 100})
			if _, err := RestoreSnapshot(bytes.NewReader(buf.Bytes()), rs); err != nil {
				t.Fatalf("restore into %s: %v", into.name, err)
			}
			got := rs.State()
			// Bytes are counted as the store restored into counts them.
			var wantBytes uint64
			for i := 3; i <= 50; i++ {
				if i != 7 {
					wantBytes += storeWantBytes(into, "x.0", []byte("NATS/1.0\r\n\r\n"), make([]byte, i))
				}
			}
			if got.Msgs != want.Msgs || got.FirstSeq != want.FirstSeq || got.LastSeq != want.LastSeq || !reflect.DeepEqual(got.Deleted, want.Deleted) || got.Bytes != wantBytes {
				t.Fatalf("restored into %s: %+v want %+v", into.name, got, want)
			}
			storeCheckMsg(t, rs, 20, "x.0", []byte("NATS/1.0\r\n\r\n"), bytes.Repeat([]byte{20}, 20))
			ro, _ := rs.ConsumerStore("dur")
			if got, err := ro.State(); err != nil || !reflect.DeepEqual(got, cs) {
				t.Fatalf("consumer state %+v %v", got, err)
			}
			rs.Delete()
		}
		bad := append([]byte(nil), buf.Bytes()...)
		bad[len(bad)/2] ^= 0xff
		rs := k.open(t, &StreamConfig{Name: "S"})
		if _, err := RestoreSnapshot(bytes.NewReader(bad), rs); err == nil {
			t.Fatal("corrupt snapshot restored")
		}
		rs.Delete()
	})
}

func TestStoreConsumerState(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		st := k.open(t, &StreamConfig{Name: "S"})
		defer st.Stop()
		o, err := st.ConsumerStore("c1")
		if err != nil {
			t.Fatal(err)
		}
		if s, err := o.State(); err != nil || s.Delivered.Stream != 0 {
			t.Fatalf("fresh consumer state %+v %v", s, err)
		}
		cs := &ConsumerState{Delivered: SequencePair{3, 30}, AckFloor: SequencePair{1, 10},
			Pending: map[uint64]*Pending{20: {Sequence: 2, Timestamp: 123}, 30: {Sequence: 3, Timestamp: 456}}}
		if err := o.Update(cs); err != nil {
			t.Fatal(err)
		}
		if err := o.Update(&ConsumerState{AckFloor: SequencePair{5, 5}}); !errors.Is(err, ErrStoreBadConsumerState) {
			t.Fatalf("ack floor above delivered accepted: %v", err)
		}
		var s StreamState
		st.FastState(&s)
		if s.Consumers != 1 {
			t.Fatalf("consumer count %d", s.Consumers)
		}
		st = storeRestart(t, k, st)
		o, _ = st.ConsumerStore("c1")
		if got, err := o.State(); err != nil || !reflect.DeepEqual(got, cs) {
			t.Fatalf("state after restart %+v %v", got, err)
		}
		if err := o.Delete(); err != nil {
			t.Fatal(err)
		}
		st.FastState(&s)
		if s.Consumers != 0 {
			t.Fatalf("consumer count after delete %d", s.Consumers)
		}
	})
}

// storeWantBytes is the reference's accounted size of a message, written out
// independently of the stores: subject, headers and payload plus 30 bytes
// (34 with headers) in a file store, plus 16 in a memory store.
func storeWantBytes(k storeKind, subj string, hdr, msg []byte) uint64 {
	n := uint64(len(subj) + len(hdr) + len(msg))
	if k.reopen == nil {
		return n + 16
	}
	if len(hdr) > 0 {
		n += 4
	}
	return n + 30
}

// storeCheckBytes compares a store's bytes, in both state calls, with the
// sum of storeWantBytes of the messages it still holds.
func storeCheckBytes(t *testing.T, what string, st StreamStore, want uint64) {
	t.Helper()
	var fast StreamState
	st.FastState(&fast)
	if s := st.State(); s.Bytes != want || fast.Bytes != want {
		t.Fatalf("%s: bytes %d (fast %d), want %d", what, s.Bytes, fast.Bytes, want)
	}
}

// A stream's bytes are the reference's figures, message by message, and stay
// exact across restarts, removals, erasure, purges, compaction and expiry.
func TestStoreAccountedBytes(t *testing.T) {
	hdr := []byte("NATS/1.0\r\nX: 1\r\n\r\n")
	forEachStore(t, func(t *testing.T, k storeKind) {
		plain, withHdr := uint64(39), uint64(61)
		if k.reopen == nil {
			plain, withHdr = 25, 43
		}
		if got := storeWantBytes(k, "f.ab", nil, []byte("hello")); got != plain {
			t.Fatalf("formula: %d, want %d", got, plain)
		}
		st := k.open(t, &StreamConfig{Name: "S", Subjects: []string{"f.>"}, AllowMsgTTL: true})
		defer st.Stop()
		want := map[uint64]uint64{}
		total := func() (n uint64) {
			for _, b := range want {
				n += b
			}
			return n
		}
		// Enough to seal several 1 KiB blocks, so that restarts read block
		// indexes as well as scan the active block.
		for i := 1; i <= 60; i++ {
			h := hdr
			if i%2 == 1 {
				h = nil
			}
			seq := storeMust(t, st, "f.ab", h, []byte("hello"))
			want[seq] = plain
			if h != nil {
				want[seq] = withHdr
			}
		}
		storeCheckBytes(t, "stored", st, total())
		st = storeRestart(t, k, st)
		storeCheckBytes(t, "restarted", st, total())
		for _, seq := range []uint64{2, 3, 10, 11, 40} {
			if ok, err := st.RemoveMsg(seq); !ok || err != nil {
				t.Fatalf("RemoveMsg(%d): %v %v", seq, ok, err)
			}
			delete(want, seq)
		}
		if ok, err := st.EraseMsg(20); !ok || err != nil {
			t.Fatalf("EraseMsg: %v %v", ok, err)
		}
		delete(want, 20)
		storeCheckBytes(t, "removed", st, total())
		st = storeRestart(t, k, st)
		storeCheckBytes(t, "removed, restarted", st, total())
		if n, err := st.Compact(15); err != nil || n != 10 {
			t.Fatalf("Compact: %d %v", n, err)
		}
		for seq := range want {
			if seq < 15 {
				delete(want, seq)
			}
		}
		storeMust(t, st, "f.x", hdr, nil)
		want[61] = storeWantBytes(k, "f.x", hdr, nil)
		if n, err := st.PurgeEx("f.ab", 50, 0); err != nil || n != 33 {
			t.Fatalf("PurgeEx: %d %v", n, err)
		}
		for seq := range want {
			if seq < 50 {
				delete(want, seq)
			}
		}
		storeCheckBytes(t, "compacted and purged", st, total())
		st = storeRestart(t, k, st)
		storeCheckBytes(t, "compacted and purged, restarted", st, total())
		if _, _, err := st.StoreMsg("f.ttl", hdr, []byte("gone"), int64(20*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		storeCheckBytes(t, "with ttl", st, total()+storeWantBytes(k, "f.ttl", hdr, []byte("gone")))
		storeWaitFor(t, 2*time.Second, "ttl expiry", func() bool {
			var s StreamState
			st.FastState(&s)
			return s.Msgs == uint64(len(want))
		})
		storeCheckBytes(t, "expired", st, total())
		st = storeRestart(t, k, st)
		storeCheckBytes(t, "expired, restarted", st, total())
		if n, err := st.Purge(); err != nil || n != uint64(len(want)) {
			t.Fatalf("Purge: %d %v", n, err)
		}
		storeCheckBytes(t, "purged", st, 0)
	})
}
