package server

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/minio/highwayhash"
)

// fsCheckBlockBytes checks that every block's live counters are the sum of
// the slots that point into it, the invariant removals rely on.
func fsCheckBlockBytes(t *testing.T, st *FileStore) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	live := map[uint32]uint32{}
	liveB := map[uint32]uint64{}
	for i := range st.idx.slots {
		if sl := &st.idx.slots[i]; sl.subj != 0 {
			live[uint32(sl.loc>>32)]++
			liveB[uint32(sl.loc>>32)] += uint64(sl.size)
		}
	}
	for _, b := range st.blks {
		if b.live != live[b.id] || b.liveB != liveB[b.id] || b.liveB > b.physB {
			t.Fatalf("block %d: live %d/%d bytes (phys %d), slots say %d/%d", b.id, b.live, b.liveB, b.physB, live[b.id], liveB[b.id])
		}
	}
}

// fsStoreMixed stores n messages on f.ab, every second one with headers,
// and returns the reference's accounted bytes of each by sequence.
func fsStoreMixed(t *testing.T, st StreamStore, n int) map[uint64]uint64 {
	hdr := []byte("NATS/1.0\r\nX: 1\r\n\r\n")
	want := map[uint64]uint64{}
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			want[storeMust(t, st, "f.ab", nil, []byte("hello"))] = 39
		} else {
			want[storeMust(t, st, "f.ab", hdr, []byte("hello"))] = 61
		}
	}
	return want
}

func fsSum(want map[uint64]uint64) (n uint64) {
	for _, b := range want {
		n += b
	}
	return n
}

// fsRewriteIdxV1 turns every block index under dir into the format before
// fsIdxHdrFlag ("NFX1"), as a store written by an older version has them.
func fsRewriteIdxV1(t *testing.T, dir string, hkey []byte) int {
	n := 0
	for _, p := range fsListFiles(t, filepath.Join(dir, fsMsgsDir)) {
		if !strings.HasSuffix(p, ".idx") {
			continue
		}
		blob, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		z, _, err := fsOpen(blob, nil, []byte("idx"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := s2.Decode(nil, z)
		if err != nil || string(body[:4]) != fsIdxMagic {
			t.Fatalf("index %s: %v %q", p, err, body[:4])
		}
		body = body[:len(body)-8]
		copy(body, fsIdxMagicV1)
		fsClearIdxHdrFlags(t, body)
		body = binary.LittleEndian.AppendUint64(body, highwayhash.Sum64(body, hkey))
		blob, _ = fsSeal(NoCipher, nil, s2.Encode(nil, body), []byte("idx"))
		if err := os.WriteFile(p, blob, 0o600); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// fsClearIdxHdrFlags takes the has-headers flag off every record of an
// index body (without its hash), as version 1 wrote them.
func fsClearIdxHdrFlags(t *testing.T, body []byte) {
	r := storeVarReader{b: body[36:]}
	for ns := r.uvarint(); ns > 0; ns-- {
		r.b = r.b[r.uvarint():]
	}
	flagged := 0
	for nr := r.uvarint(); nr > 0 && !r.err; nr-- {
		k := &body[len(body)-len(r.b)]
		if *k&fsIdxHdrFlag != 0 {
			flagged++
		}
		*k &^= fsIdxHdrFlag
		r.b = r.b[1:]
		r.uvarint()
		r.uvarint()
		r.uvarint()
		r.varint()
		r.varint()
		if *k == fsKindMsg {
			r.uvarint()
		}
	}
	if r.err || len(r.b) != 0 || flagged == 0 {
		t.Fatalf("index body not walked: err %v, %d left, %d flagged", r.err, len(r.b), flagged)
	}
}

// A store whose block indexes predate the has-headers flag opens with exact
// bytes: those blocks are scanned once and their indexes written anew.
func TestFileStoreBytesOldIndex(t *testing.T) {
	fcfg := FileStoreConfig{Dir: t.TempDir(), BlockSize: 1024}
	cfg := &StreamConfig{Name: "S", Subjects: []string{"f.>"}}
	st := fsOpenT(t, fcfg, cfg)
	want := fsStoreMixed(t, st, 60)
	st.Stop()
	if n := fsRewriteIdxV1(t, fcfg.Dir, st.hkey); n < 3 {
		t.Fatalf("only %d block indexes written", n)
	}
	st = fsOpenT(t, fcfg, cfg)
	storeCheckBytes(t, "old indexes", st, fsSum(want))
	fsCheckBlockBytes(t, st)
	for _, p := range fsListFiles(t, filepath.Join(fcfg.Dir, fsMsgsDir)) {
		if !strings.HasSuffix(p, ".idx") {
			continue
		}
		blob, _ := os.ReadFile(p)
		z, _, _ := fsOpen(blob, nil, []byte("idx"))
		if body, err := s2.Decode(nil, z); err != nil || string(body[:4]) != fsIdxMagic {
			t.Fatalf("index %s not rewritten: %v", p, err)
		}
	}
}

// After a crash, the bytes recovered from indexes and block scans are the
// reference's, and every block's counters agree with its messages, also
// encrypted and compressed.
func TestFileStoreBytesAfterCrash(t *testing.T) {
	for _, enc := range []bool{false, true} {
		fcfg := FileStoreConfig{Dir: t.TempDir(), BlockSize: 1024, SyncAlways: true}
		cfg := &StreamConfig{Name: "S", Subjects: []string{"f.>"}}
		if enc {
			fcfg.Cipher, fcfg.Key = ChaCha, []byte("bytes key")
			cfg.Compression = S2Compression
		}
		st := fsOpenT(t, fcfg, cfg)
		want := fsStoreMixed(t, st, 70)
		for _, seq := range []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 33, 68} {
			if ok, err := st.RemoveMsg(seq); !ok || err != nil {
				t.Fatalf("RemoveMsg(%d): %v %v", seq, ok, err)
			}
			delete(want, seq)
		}
		fsCheckBlockBytes(t, st)
		// A copy of the live directory is what a kill -9 leaves behind: no
		// index for the active block, nothing written at Stop.
		crashed := fcfg
		crashed.Dir = t.TempDir()
		fsCopyDir(t, fcfg.Dir, crashed.Dir)
		st.Stop()
		for _, f := range []FileStoreConfig{crashed, fcfg} {
			re := fsOpenT(t, f, cfg)
			storeCheckBytes(t, "reopened", re, fsSum(want))
			fsCheckBlockBytes(t, re)
			re.Stop()
		}
	}
}
