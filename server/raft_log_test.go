package server

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func raftTestEntries(from, to uint64, term uint64) []*pb.Entry {
	var ents []*pb.Entry
	for i := from; i <= to; i++ {
		ents = append(ents, &pb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(i),
			Type: pb.EntryNormal.Enum(), Data: []byte{byte(i), byte(term)}})
	}
	return ents
}

func TestRaftLogRecoverReplacesConflictingTail(t *testing.T) {
	dir := t.TempDir()
	l, err := openRaftLog(osFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := &pb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(3), Commit: proto.Uint64(4)}
	if err := l.save(hs, raftTestEntries(1, 6, 1)); err != nil {
		t.Fatal(err)
	}
	// A new leader overwrote entries from 5 on.
	if err := l.save(nil, raftTestEntries(5, 7, 2)); err != nil {
		t.Fatal(err)
	}
	l.close()
	l, err = openRaftLog(osFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if len(l.ents) != 7 || l.ents[4].GetTerm() != 2 || l.ents[6].GetIndex() != 7 || l.ents[3].GetTerm() != 1 {
		t.Fatalf("recovered %d entries: %v", len(l.ents), l.ents)
	}
	if l.hard.GetTerm() != 2 || l.hard.GetVote() != 3 || l.hard.GetCommit() != 4 {
		t.Fatalf("hard state %v", &l.hard)
	}
}

func TestRaftLogTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	l, _ := openRaftLog(osFS{}, dir)
	l.save(nil, raftTestEntries(1, 5, 1))
	l.close()
	seg := filepath.Join(dir, "1.seg")
	fi, _ := os.Stat(seg)
	// A crash cut the last record in the middle.
	os.Truncate(seg, fi.Size()-3)
	l, err := openRaftLog(osFS{}, dir)
	if err != nil {
		t.Fatalf("torn tail: %v", err)
	}
	if len(l.ents) != 4 {
		t.Fatalf("recovered %d entries, want 4", len(l.ents))
	}
	// Appending after the cut continues a readable log.
	l.save(nil, raftTestEntries(5, 6, 1))
	l.close()
	l, err = openRaftLog(osFS{}, dir)
	if err != nil || len(l.ents) != 6 {
		t.Fatalf("after append: %v, %d entries", err, len(l.ents))
	}
	l.close()
}

func TestRaftLogCorruptionRefused(t *testing.T) {
	dir := t.TempDir()
	l, _ := openRaftLog(osFS{}, dir)
	l.save(nil, raftTestEntries(1, 5, 1))
	if err := l.newSegment(2); err != nil {
		t.Fatal(err)
	}
	l.save(nil, raftTestEntries(6, 8, 1))
	l.close()
	// A flipped bit inside a sealed (not last) segment is not a torn write.
	seg := filepath.Join(dir, "1.seg")
	b, _ := os.ReadFile(seg)
	b[len(raftSegMagic)+raftRecHdr+3] ^= 0x10
	os.WriteFile(seg, b, 0o640)
	if _, err := openRaftLog(osFS{}, dir); err == nil {
		t.Fatalf("a corrupt segment was accepted")
	}
}

func TestRaftLogSnapshotDropsCoveredSegments(t *testing.T) {
	dir := t.TempDir()
	l, _ := openRaftLog(osFS{}, dir)
	l.save(nil, raftTestEntries(1, 5, 1))
	l.newSegment(2)
	l.save(nil, raftTestEntries(6, 8, 1))
	snap := &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{
		Index: proto.Uint64(6), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := l.saveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	l.close()
	if _, err := os.Stat(filepath.Join(dir, "1.seg")); !os.IsNotExist(err) {
		t.Fatalf("segment covered by the snapshot kept: %v", err)
	}
	l, err := openRaftLog(osFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if string(l.snap.GetData()) != "state" || l.snapIndex() != 6 || len(l.snap.GetMetadata().GetConfState().GetVoters()) != 3 {
		t.Fatalf("snapshot %v", l.snap)
	}
	if len(l.ents) != 2 || l.ents[0].GetIndex() != 7 {
		t.Fatalf("entries after the snapshot: %v", l.ents)
	}
}

// FuzzRaftLogRecover feeds arbitrary segment bytes to recovery: it must
// recover or refuse, never panic.
func FuzzRaftLogRecover(f *testing.F) {
	seed := []byte(raftSegMagic)
	for _, e := range raftTestEntries(1, 3, 1) {
		seed = appendEntryRecord(seed, e)
	}
	seed = appendHardRecord(seed, &pb.HardState{Term: proto.Uint64(1)})
	f.Add(seed)
	f.Add([]byte(raftSegMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &raftLog{}
		seg := raftSegment{}
		l.replayRecords(data, &seg)
	})
}

// FuzzRaftSnapshotDecode: the snapshot file decoder.
func FuzzRaftSnapshotDecode(f *testing.F) {
	f.Add([]byte(raftSnapMagic + "\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeRaftSnapshot(data)
	})
}

// A hard state that only moves the commit index is written without an
// fsync (the next one covers it); new entries and a new term or vote are
// fsynced before save returns, and survive a crash.
func TestRaftLogCommitOnlyHardStateNotSynced(t *testing.T) {
	m := newMemFS()
	var syncs atomic.Int32
	m.setFault(func(op, _ string) error {
		if op == "sync" {
			syncs.Add(1)
		}
		return nil
	})
	l, err := openRaftLog(m, "/g")
	if err != nil {
		t.Fatal(err)
	}
	hs := func(term, vote, commit uint64) *pb.HardState {
		return &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
	}
	steps := []struct {
		hs    *pb.HardState
		ents  []*pb.Entry
		syncs int32
	}{
		{hs(2, 1, 0), raftTestEntries(1, 3, 2), 1},
		{hs(2, 1, 3), nil, 0},                      // commit only
		{hs(2, 1, 3), raftTestEntries(4, 4, 2), 1}, // entries
		{hs(3, 0, 3), nil, 1},                      // new term
		{hs(3, 2, 3), nil, 1},                      // vote
	}
	for i, s := range steps {
		syncs.Store(0)
		if err := l.save(s.hs, s.ents); err != nil {
			t.Fatal(err)
		}
		if got := syncs.Load(); got != s.syncs {
			t.Fatalf("step %d: %d fsyncs, want %d", i, got, s.syncs)
		}
	}
	m.setFault(nil)
	r, err := openRaftLog(m.crashCopy(), "/g")
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if len(r.ents) != 4 || r.hard.GetTerm() != 3 || r.hard.GetVote() != 2 {
		t.Fatalf("after a crash: %d entries, hard state %v", len(r.ents), &r.hard)
	}
}

// A bit flipped in a record of the last segment with intact records after
// it is corruption, not a torn tail: the log refuses to open rather than
// dropping the acknowledged entries that follow.
func TestRaftLogCorruptMiddleOfLastSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := openRaftLog(osFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.save(nil, raftTestEntries(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	l.close()
	seg := filepath.Join(dir, "1.seg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// The second record's body (each entry record here is 8+18+2 bytes).
	off := len(raftSegMagic) + 28 + 8 + 3
	b[off] ^= 0x10
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := openRaftLog(osFS{}, dir); !errors.Is(err, errRaftLogCorrupt) {
		t.Fatalf("corrupt record before intact ones: %v", err)
	}
	// The file was left as it was (nothing cut off).
	if after, _ := os.ReadFile(seg); len(after) != len(b) {
		t.Fatalf("segment cut from %d to %d bytes", len(b), len(after))
	}
}
