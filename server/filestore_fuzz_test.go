package server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fsFuzzSeedBlocks builds real block and index files to seed the fuzzer.
func fsFuzzSeedBlocks(f *testing.F, compress bool) (blk, idx []byte) {
	dir := f.TempDir()
	cfg := &StreamConfig{Name: "F"}
	if compress {
		cfg.Compression = S2Compression
	}
	fs, err := NewFileStore(FileStoreConfig{Dir: dir, BlockSize: 600}, cfg)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		fs.StoreMsg("f.x", []byte("NATS/1.0\r\n\r\n"), bytes.Repeat([]byte{'p'}, 10*i), int64(i))
	}
	fs.RemoveMsg(2)
	fs.SkipMsg()
	fs.Stop()
	blk, _ = os.ReadFile(filepath.Join(dir, fsMsgsDir, "1.blk"))
	idx, _ = os.ReadFile(filepath.Join(dir, fsMsgsDir, "1.idx"))
	return blk, idx
}

// FuzzFileStoreBlockRecovery opens a store whose only block (and index) are
// the fuzzer's bytes: recovery and reads must never panic, and whatever is
// served must be a well-formed message.
func FuzzFileStoreBlockRecovery(f *testing.F) {
	for _, c := range []bool{false, true} {
		blk, idx := fsFuzzSeedBlocks(f, c)
		f.Add(blk, idx)
		f.Add(blk, []byte(nil))
		if len(blk) > 40 {
			f.Add(blk[:len(blk)-7], idx)
		}
	}
	f.Fuzz(func(t *testing.T, blk, idx []byte) {
		dir := t.TempDir()
		mdir := filepath.Join(dir, fsMsgsDir)
		os.MkdirAll(mdir, 0o750)
		os.WriteFile(filepath.Join(mdir, "1.blk"), blk, 0o640)
		if idx != nil {
			os.WriteFile(filepath.Join(mdir, "1.idx"), idx, 0o640)
		}
		fs, err := NewFileStore(FileStoreConfig{Dir: dir, BlockSize: 600}, &StreamConfig{Name: "F"})
		if err != nil {
			return
		}
		defer fs.Stop()
		var s StreamState
		fs.FastState(&s)
		var sm StoreMsg
		for seq := s.FirstSeq; seq <= s.LastSeq && seq < s.FirstSeq+200; seq++ {
			m, err := fs.LoadMsg(seq, &sm)
			if err == nil && (m.Seq != seq || !IsValidPublishSubject(m.Subject)) {
				t.Fatalf("served malformed message %d: %+v", seq, m)
			}
		}
		// The store stays usable after whatever it found.
		if _, _, err := fs.StoreMsg("after", nil, []byte("ok"), 0); err != nil && !errors.Is(err, ErrStoreBadSequence) {
			t.Fatalf("store after recovery: %v", err)
		}
	})
}

// FuzzStoreConsumerState decodes arbitrary consumer state: no panic, and a
// decoded state re-encodes to an equal state.
func FuzzStoreConsumerState(f *testing.F) {
	f.Add(storeEncodeConsumerState(&ConsumerState{Delivered: SequencePair{5, 9}, AckFloor: SequencePair{2, 3},
		Pending: map[uint64]*Pending{4: {Sequence: 3, Timestamp: -1}}, Redelivered: map[uint64]uint64{4: 7}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := storeDecodeConsumerState(data)
		if err != nil {
			return
		}
		again, err := storeDecodeConsumerState(storeEncodeConsumerState(st))
		if err != nil || !reflect.DeepEqual(st, again) {
			t.Fatalf("round trip: %+v vs %+v (%v)", st, again, err)
		}
	})
}

// FuzzRestoreSnapshot restores arbitrary snapshots into a memory store.
func FuzzRestoreSnapshot(f *testing.F) {
	ms, _ := NewMemStore(&StreamConfig{Name: "Z"})
	ms.StoreMsg("z.a", nil, []byte("one"), 0)
	ms.StoreMsg("z.b", []byte("NATS/1.0\r\n\r\n"), []byte("two"), 0)
	o, _ := ms.ConsumerStore("c")
	o.Update(&ConsumerState{Delivered: SequencePair{1, 1}})
	var buf bytes.Buffer
	ms.Snapshot(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _ := NewMemStore(&StreamConfig{Name: "Z"})
		_, _ = RestoreSnapshot(bytes.NewReader(data), st)
		st.Stop()
	})
}
