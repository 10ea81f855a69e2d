package server

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// A round's entry gives back every message with its sequence, time, TTL,
// subject, header and payload, in order.
func TestStreamReplEntryRoundTrip(t *testing.T) {
	r := &streamRepl{run: 42}
	type msg struct {
		subj     string
		hdr, msg []byte
		seq      uint64
		ts, ttl  int64
	}
	in := []msg{
		{"a.b", nil, []byte("one"), 7, 100, 0},
		{"c", []byte("NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n"), nil, 8, 101, -1},
		{"d.e.f", nil, bytes.Repeat([]byte{0xff}, 1000), 10, 102, 5},
	}
	for _, m := range in {
		r.record(m.subj, m.hdr, m.msg, m.seq, m.ts, m.ttl)
	}
	binary.LittleEndian.PutUint32(r.entry[9:], r.count)
	var got []msg
	run, err := decodeReplMsgs(r.entry, func(m *replRecord) error {
		got = append(got, msg{m.subject, bytes.Clone(m.hdr), bytes.Clone(m.msg), m.seq, m.ts, m.ttl})
		return nil
	})
	if err != nil || run != 42 || len(got) != len(in) {
		t.Fatalf("run %d, %d records, %v", run, len(got), err)
	}
	for i := range in {
		a, b := in[i], got[i]
		if a.subj != b.subj || !bytes.Equal(a.hdr, b.hdr) || !bytes.Equal(a.msg, b.msg) || a.seq != b.seq || a.ts != b.ts || a.ttl != b.ttl {
			t.Fatalf("record %d: %+v, want %+v", i, b, a)
		}
	}
	if r.lastSeq != 10 {
		t.Fatalf("last sequence %d", r.lastSeq)
	}
	// Truncated or padded entries are refused.
	if _, err := decodeReplMsgs(r.entry[:len(r.entry)-1], func(*replRecord) error { return nil }); err == nil {
		t.Fatal("a truncated entry decoded")
	}
	if _, err := decodeReplMsgs(append(bytes.Clone(r.entry), 0), func(*replRecord) error { return nil }); err == nil {
		t.Fatal("an entry with trailing bytes decoded")
	}
}

// Only the API requests that change a stream go through its group.
func TestStreamReplAPIEntry(t *testing.T) {
	b := []byte{replEntryAPI}
	b = binary.LittleEndian.AppendUint64(b, 1)
	b = binary.LittleEndian.AppendUint64(b, 2)
	rest := "STREAM.PURGE.S"
	b = binary.LittleEndian.AppendUint16(b, uint16(len(rest)))
	b = append(append(b, rest...), `{"keep":1}`...)
	run, id, r, body, err := decodeReplAPI(b)
	if err != nil || run != 1 || id != 2 || r != rest || string(body) != `{"keep":1}` {
		t.Fatalf("%d %d %q %q %v", run, id, r, body, err)
	}
	b2 := bytes.Clone(b)
	copy(b2[19:], "STREAM.INFO.S.")
	if _, _, _, _, err := decodeReplAPI(b2); err == nil {
		t.Fatal("a request that does not change the stream was accepted")
	}
	if _, _, err := decodeReplConsumer([]byte{replEntryConsumer, 1, 0, 'C', '{', '}'}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := decodeReplConsumer([]byte{replEntryConsumer, 9, 0, 'C'}); err == nil {
		t.Fatal("a short consumer entry decoded")
	}
}

// FuzzStreamReplEntry: log entries come from other servers; a bad one is
// refused, never a crash or an endless loop.
func FuzzStreamReplEntry(f *testing.F) {
	r := &streamRepl{run: 1}
	r.record("a", []byte("NATS/1.0\r\n\r\n"), []byte("x"), 1, 2, 0)
	binary.LittleEndian.PutUint32(r.entry[9:], r.count)
	f.Add(bytes.Clone(r.entry))
	f.Add([]byte{replEntryConsumer, 1, 0, 'C', '{', '}'})
	f.Add([]byte{replEntryAPI})
	f.Add([]byte{replEntryRemove, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_, _ = decodeReplMsgs(data, func(m *replRecord) error {
			if n++; len(m.subject) > len(data) || len(m.msg) > len(data) {
				t.Fatal("a record larger than its entry")
			}
			return nil
		})
		_, _, _, _, _ = decodeReplAPI(data)
		_, _, _ = decodeReplConsumer(data)
		m := 0
		if err := decodeReplRemovals(data, func(uint64) { m++ }); err == nil && 5+8*m != len(data) {
			t.Fatalf("%d removals decoded from %d bytes", m, len(data))
		}
	})
}

// A removals entry gives back its sequences; a short or padded one is
// refused.
func TestStreamReplRemovalsEntry(t *testing.T) {
	b := []byte{replEntryRemove}
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = binary.LittleEndian.AppendUint64(b, 7)
	b = binary.LittleEndian.AppendUint64(b, 1<<40)
	var got []uint64
	if err := decodeReplRemovals(b, func(seq uint64) { got = append(got, seq) }); err != nil || len(got) != 2 || got[0] != 7 || got[1] != 1<<40 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0), b[:4]} {
		if err := decodeReplRemovals(bad, func(uint64) {}); err == nil {
			t.Fatalf("%x decoded", bad)
		}
	}
}
