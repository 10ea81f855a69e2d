package server

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// raftLog is a Raft group's durable state on disk: its log entries, its hard
// state (term, vote, commit) and its latest snapshot. It is written only by
// the group's own goroutine (raftNode.run), so it has no lock.
//
// # Layout
//
// A group's directory holds log segments named `<n>.seg` (n a decimal
// counter, the newest highest) and at most one snapshot file `snap`.
//
// A segment starts with the 8-byte magic "NRGLOG01" followed by records:
//
//	u32 body length | u32 CRC-32C (Castagnoli) of the body | body
//
// (little-endian). The body's first byte is its kind:
//
//	1 entry:      u64 term | u64 index | u8 entry type | data (rest of the body)
//	2 hard state: u64 term | u64 vote | u64 commit
//	3 sealed:     an encrypted kind 1 or 2 body (raft_crypt.go)
//
// Records are only appended; a batch of records is followed by one fsync
// before anything that depends on it (a Raft message, an apply) happens.
// Replaying the segments in order rebuilds the log: an entry at index i
// replaces every entry from i on (a new leader overwrote a conflicting
// tail), the last hard state wins. A new segment starts when the current one
// passes raftSegmentMax, and begins with the current hard state, so that
// older segments can be removed once a snapshot covers all their entries.
//
// The snapshot file is:
//
//	"NRGSNP01" | u32 CRC-32C of the rest | u64 index | u64 term |
//	u32 conf state length | conf state (protobuf raftpb.ConfState) | data
//
// replaced atomically (temp file, fsync, rename, directory fsync).
//
// # Recovery
//
// A record cut short or failing its checksum at the end of the newest
// segment is the tail of a write that a crash interrupted before its fsync:
// nothing that followed it was acknowledged, so the segment is truncated
// there. The same damage anywhere else is corruption, and the log refuses
// to open (a node must never vote or serve with a log it cannot trust).
type raftLog struct {
	fs   storeFS
	dir  string
	segs []raftSegment // oldest first; the last is appended to
	f    storeFile     // the last segment, open for writing
	size int64         // bytes written to the last segment

	hard pb.HardState
	snap *pb.Snapshot // nil before the first snapshot
	ents []*pb.Entry  // entries after the snapshot, as recovered
	buf  []byte       // records of the batch being written
	seal *raftSealer  // nil: records and snapshot in clear (raft_crypt.go)
	// lastWrite is when records were last appended by this process (the
	// log keeps no times), for /raftz.
	lastWrite time.Time
}

// raftSegment is one segment file and the highest entry index it holds.
type raftSegment struct {
	n        uint64
	maxIndex uint64
	size     int64 // bytes in the file
}

const (
	raftSegMagic    = "NRGLOG01"
	raftSnapMagic   = "NRGSNP01"
	raftRecEntry    = 1
	raftRecHard     = 2
	raftRecHdr      = 8
	raftEntryFixed  = 1 + 8 + 8 + 1
	raftHardLen     = 1 + 8 + 8 + 8
	raftSegmentMax  = 64 << 20
	raftMaxRecordSz = 64 << 20
)

var raftCRC = crc32.MakeTable(crc32.Castagnoli)

var errRaftLogCorrupt = errors.New("raft log corrupt")

// openRaftLog opens (or creates) a clear log in dir and recovers its state.
func openRaftLog(sys storeFS, dir string) (*raftLog, error) {
	return openRaftLogSealed(sys, dir, nil)
}

// openRaftLogSealed opens the log in dir; with seal, records written are
// sealed and sealed ones can be read (raft_crypt.go).
func openRaftLogSealed(sys storeFS, dir string, seal *raftSealer) (*raftLog, error) {
	if err := fsMkdirAll(sys, dir); err != nil {
		return nil, err
	}
	l := &raftLog{fs: sys, dir: dir, seal: seal}
	if err := l.loadSnapshot(); err != nil {
		return nil, err
	}
	des, err := sys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		l.segs = append(l.segs, raftSegment{n: n})
	}
	slices.SortFunc(l.segs, func(a, b raftSegment) int { return cmp.Compare(a.n, b.n) })
	for i := range l.segs {
		if err := l.replaySegment(i, i == len(l.segs)-1); err != nil {
			return nil, err
		}
	}
	if len(l.segs) == 0 {
		if err := l.newSegment(1); err != nil {
			return nil, err
		}
		return l, nil
	}
	last := l.segs[len(l.segs)-1]
	f, err := sys.OpenFile(l.segPath(last.n), os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func (l *raftLog) segPath(n uint64) string {
	return filepath.Join(l.dir, strconv.FormatUint(n, 10)+".seg")
}

// replaySegment reads segment i into the recovered state. A damaged tail of
// the last segment is cut off; damage elsewhere fails.
func (l *raftLog) replaySegment(i int, last bool) error {
	path := l.segPath(l.segs[i].n)
	data, err := l.fs.ReadFile(path)
	if err != nil {
		return err
	}
	good, err := l.replayRecords(data, &l.segs[i])
	l.segs[i].size = int64(good)
	if err == nil {
		if last {
			l.size = int64(len(data))
		}
		return nil
	}
	if errors.Is(err, errRaftNoKey) {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !last || errors.Is(err, errRaftSealOpen) || raftRecordAfter(data, good) {
		// A torn write never has a good CRC: a sealed record that does not
		// open is corruption (or tampering), never cut off as a tail; and
		// so is a bad record with intact ones after it (a crash cuts the
		// end of a write, not its middle): what follows was acknowledged.
		return fmt.Errorf("%w: %s at byte %d: %v", errRaftLogCorrupt, path, good, err)
	}
	if good < len(raftSegMagic) {
		good = 0
	}
	if err := l.fs.Truncate(path, int64(good)); err != nil {
		return err
	}
	l.size = int64(good)
	if good == 0 {
		// Not even the magic survived: rewrite it.
		f, err := l.fs.OpenFile(path, os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		_, err = f.WriteAt([]byte(raftSegMagic), 0)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		l.size = int64(len(raftSegMagic))
		l.segs[i].size = l.size
		return err
	}
	return nil
}

// replayRecords applies a segment's records to the recovered state and
// returns how many bytes of it were good.
func (l *raftLog) replayRecords(data []byte, seg *raftSegment) (int, error) {
	if len(data) < len(raftSegMagic) || string(data[:len(raftSegMagic)]) != raftSegMagic {
		return 0, errors.New("bad segment magic")
	}
	p := len(raftSegMagic)
	for p < len(data) {
		body, n, err := raftNextRecord(data[p:])
		if err != nil {
			return p, err
		}
		if err := l.replayRecord(body, seg); err != nil {
			return p, err
		}
		p += n
	}
	return p, nil
}

// raftRecordAfter tells whether an intact record starts anywhere in data
// after the bad one at off. It runs only on a damaged log.
func raftRecordAfter(data []byte, off int) bool {
	for p := off + 1; p+raftRecHdr < len(data); p++ {
		if _, _, err := raftNextRecord(data[p:]); err == nil {
			return true
		}
	}
	return false
}

// raftNextRecord splits the first record off b: its body and its length.
func raftNextRecord(b []byte) ([]byte, int, error) {
	if len(b) < raftRecHdr {
		return nil, 0, errors.New("short record header")
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > raftMaxRecordSz || int(n) > len(b)-raftRecHdr {
		return nil, 0, errors.New("bad record length")
	}
	body := b[raftRecHdr : raftRecHdr+int(n)]
	if crc32.Checksum(body, raftCRC) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errors.New("record checksum mismatch")
	}
	return body, raftRecHdr + int(n), nil
}

func (l *raftLog) replayRecord(body []byte, seg *raftSegment) error {
	switch body[0] {
	case raftRecSealed:
		if l.seal == nil {
			return errRaftNoKey
		}
		plain, err := l.seal.open(body[1:])
		if err != nil {
			return fmt.Errorf("%w: %v", errRaftSealOpen, err)
		}
		if len(plain) == 0 || plain[0] == raftRecSealed {
			return errors.New("bad sealed record")
		}
		return l.replayRecord(plain, seg)
	case raftRecHard:
		if len(body) != raftHardLen {
			return errors.New("bad hard state record")
		}
		l.hard = pb.HardState{
			Term:   proto.Uint64(binary.LittleEndian.Uint64(body[1:])),
			Vote:   proto.Uint64(binary.LittleEndian.Uint64(body[9:])),
			Commit: proto.Uint64(binary.LittleEndian.Uint64(body[17:])),
		}
		return nil
	case raftRecEntry:
		if len(body) < raftEntryFixed {
			return errors.New("bad entry record")
		}
		e := &pb.Entry{
			Term:  proto.Uint64(binary.LittleEndian.Uint64(body[1:])),
			Index: proto.Uint64(binary.LittleEndian.Uint64(body[9:])),
			Type:  pb.EntryType(body[17]).Enum(),
			Data:  slices.Clone(body[raftEntryFixed:]),
		}
		seg.maxIndex = max(seg.maxIndex, e.GetIndex())
		return l.recoverEntry(e)
	}
	return errors.New("unknown record kind")
}

// recoverEntry puts a replayed entry in place: it replaces the entry at its
// index and everything after it.
func (l *raftLog) recoverEntry(e *pb.Entry) error {
	base := l.snapIndex()
	idx := e.GetIndex()
	if idx <= base {
		return nil // covered by the snapshot
	}
	pos := idx - base - 1
	if pos > uint64(len(l.ents)) {
		return fmt.Errorf("entry %d after a gap (last %d)", idx, base+uint64(len(l.ents)))
	}
	l.ents = append(l.ents[:pos], e)
	return nil
}

func (l *raftLog) snapIndex() uint64 {
	if l.snap == nil {
		return 0
	}
	return l.snap.GetMetadata().GetIndex()
}

// newSegment starts segment n, beginning with the current hard state.
func (l *raftLog) newSegment(n uint64) error {
	if l.f != nil {
		if err := l.f.Close(); err != nil {
			return err
		}
		l.f = nil
	}
	f, err := l.fs.OpenFile(l.segPath(n), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	b := append([]byte(raftSegMagic), nil...)
	b = l.appendHard(b, &l.hard)
	if _, err = f.WriteAt(b, 0); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		return err
	}
	l.f = f
	l.size = int64(len(b))
	l.segs = append(l.segs, raftSegment{n: n, size: l.size})
	return nil
}

// appendRecord frames body (built by fill after the 8-byte header) onto b.
func appendRecord(b []byte, fill func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, raftRecHdr)...)
	b = fill(b)
	body := b[start+raftRecHdr:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, raftCRC))
	return b
}

func appendHardRecord(b []byte, hs *pb.HardState) []byte {
	return appendRecord(b, func(b []byte) []byte { return appendHardBody(b, hs) })
}

func appendHardBody(b []byte, hs *pb.HardState) []byte {
	b = append(b, raftRecHard)
	b = binary.LittleEndian.AppendUint64(b, hs.GetTerm())
	b = binary.LittleEndian.AppendUint64(b, hs.GetVote())
	return binary.LittleEndian.AppendUint64(b, hs.GetCommit())
}

func appendEntryRecord(b []byte, e *pb.Entry) []byte {
	return appendRecord(b, func(b []byte) []byte { return appendEntryBody(b, e) })
}

func appendEntryBody(b []byte, e *pb.Entry) []byte {
	b = append(b, raftRecEntry)
	b = binary.LittleEndian.AppendUint64(b, e.GetTerm())
	b = binary.LittleEndian.AppendUint64(b, e.GetIndex())
	b = append(b, byte(e.GetType()))
	return append(b, e.GetData()...)
}

// appendHard and appendEntry frame a record, sealed when the log is.
func (l *raftLog) appendHard(b []byte, hs *pb.HardState) []byte {
	if l.seal != nil {
		return l.seal.appendSealedRecord(b, func(b []byte) []byte { return appendHardBody(b, hs) })
	}
	return appendHardRecord(b, hs)
}

func (l *raftLog) appendEntry(b []byte, e *pb.Entry) []byte {
	if l.seal != nil {
		return l.seal.appendSealedRecord(b, func(b []byte) []byte { return appendEntryBody(b, e) })
	}
	return appendEntryRecord(b, e)
}

// save writes a Ready's hard state (nil or empty: unchanged) and entries,
// then fsyncs once. Nothing that depends on them may happen before it
// returns.
//
// A hard state whose term and vote are unchanged (only the commit index
// moved) is written without an fsync: a commit index is never a promise
// to anyone (the leader re-learns it after a restart, and a lower one only
// means more entries replayed), so the next fsync covers it. On a leader
// that is every round's second fsync saved.
func (l *raftLog) save(hs *pb.HardState, ents []*pb.Entry) error {
	b := l.buf[:0]
	for _, e := range ents {
		b = l.appendEntry(b, e)
	}
	sync := len(ents) > 0
	if hs != nil && (hs.Term != nil || hs.Vote != nil || hs.Commit != nil) {
		if hs.GetTerm() != l.hard.GetTerm() || hs.GetVote() != l.hard.GetVote() {
			sync = true
		}
		b = l.appendHard(b, hs)
		l.hard = pb.HardState{Term: proto.Uint64(hs.GetTerm()), Vote: proto.Uint64(hs.GetVote()), Commit: proto.Uint64(hs.GetCommit())}
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := l.f.WriteAt(b, l.size); err != nil {
		return err
	}
	if sync {
		if err := l.f.Sync(); err != nil {
			return err
		}
	}
	l.size += int64(len(b))
	l.lastWrite = time.Now()
	seg := &l.segs[len(l.segs)-1]
	seg.size = l.size
	for _, e := range ents {
		seg.maxIndex = max(seg.maxIndex, e.GetIndex())
	}
	if cap(b) <= 1<<20 {
		l.buf = b
	}
	if l.size >= raftSegmentMax {
		return l.newSegment(seg.n + 1)
	}
	return nil
}

// saveSnapshot makes snap the durable snapshot and removes the segments
// whose entries it covers all of.
func (l *raftLog) saveSnapshot(snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	cs, err := proto.Marshal(md.GetConfState())
	if err != nil {
		return err
	}
	b := make([]byte, 0, 32+len(cs)+len(snap.GetData()))
	b = append(b, raftSnapMagic...)
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, md.GetIndex())
	b = binary.LittleEndian.AppendUint64(b, md.GetTerm())
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cs)))
	b = append(b, cs...)
	b = append(b, snap.GetData()...)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[12:], raftCRC))
	if l.seal != nil {
		b = l.seal.seal([]byte(raftSealedSnapMag), b)
	}
	if err := fsWriteFileSync(l.fs, filepath.Join(l.dir, "snap"), b); err != nil {
		return err
	}
	l.snap = snap
	return l.dropCoveredSegments(md.GetIndex())
}

// dropCoveredSegments removes old segments whose entries are all at or
// below index. The last segment stays: it is the one written to.
func (l *raftLog) dropCoveredSegments(index uint64) error {
	keep := l.segs[:0]
	removed := false
	for i, s := range l.segs {
		if i < len(l.segs)-1 && s.maxIndex <= index {
			if err := l.fs.Remove(l.segPath(s.n)); err != nil {
				return err
			}
			removed = true
			continue
		}
		keep = append(keep, s)
	}
	l.segs = keep
	if removed {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}

func (l *raftLog) loadSnapshot() error {
	b, err := l.fs.ReadFile(filepath.Join(l.dir, "snap"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) >= len(raftSealedSnapMag) && string(b[:len(raftSealedSnapMag)]) == raftSealedSnapMag {
		if l.seal == nil {
			return fmt.Errorf("%s: %w", filepath.Join(l.dir, "snap"), errRaftNoKey)
		}
		if b, err = l.seal.open(b[len(raftSealedSnapMag):]); err != nil {
			return fmt.Errorf("%w: %s: %v", errRaftLogCorrupt, filepath.Join(l.dir, "snap"), err)
		}
	}
	snap, err := decodeRaftSnapshot(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errRaftLogCorrupt, filepath.Join(l.dir, "snap"), err)
	}
	l.snap = snap
	return nil
}

// decodeRaftSnapshot parses the snapshot file format above.
func decodeRaftSnapshot(b []byte) (*pb.Snapshot, error) {
	const fixed = 8 + 4 + 8 + 8 + 4
	if len(b) < fixed || string(b[:8]) != raftSnapMagic {
		return nil, errors.New("bad snapshot header")
	}
	if crc32.Checksum(b[12:], raftCRC) != binary.LittleEndian.Uint32(b[8:]) {
		return nil, errors.New("snapshot checksum mismatch")
	}
	csLen := binary.LittleEndian.Uint32(b[28:])
	if uint64(csLen) > uint64(len(b)-fixed) {
		return nil, errors.New("bad snapshot conf state length")
	}
	cs := &pb.ConfState{}
	if err := proto.Unmarshal(b[fixed:fixed+int(csLen)], cs); err != nil {
		return nil, err
	}
	return &pb.Snapshot{
		Data: slices.Clone(b[fixed+int(csLen):]),
		Metadata: &pb.SnapshotMetadata{
			Index:     proto.Uint64(binary.LittleEndian.Uint64(b[12:])),
			Term:      proto.Uint64(binary.LittleEndian.Uint64(b[20:])),
			ConfState: cs,
		},
	}, nil
}

// bytes is the size of the log's segments on disk.
func (l *raftLog) bytes() int64 {
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// close closes the segment being written.
func (l *raftLog) close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
