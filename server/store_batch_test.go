package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func batchMsgs(n int, tag string) []storeBatchMsg {
	out := make([]storeBatchMsg, n)
	for i := range out {
		out[i] = storeBatchMsg{subject: fmt.Sprintf("b.%d", i), hdr: []byte("NATS/1.0\r\nX: y\r\n\r\n"),
			msg: []byte(fmt.Sprintf("%s-%d-payload", tag, i))}
	}
	return out
}

// A crash that cuts the block anywhere inside an atomic batch's records
// recovers none of the batch and every message before it; a cut after its
// last record recovers all of it.
func TestStoreBatchCrashIsAllOrNothing(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			src := t.TempDir()
			fcfg := FileStoreConfig{Dir: src, BlockSize: 1 << 20}
			if enc {
				fcfg.Cipher, fcfg.Key = ChaCha, []byte("batch key")
			}
			cfg := &StreamConfig{Name: "B", Storage: FileStorage}
			fs, err := NewFileStore(fcfg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, _, err := fs.StoreMsg("before", nil, []byte("x"), 0); err != nil {
					t.Fatal(err)
				}
			}
			blk := filepath.Join(src, "msgs", "1.blk")
			before := fileSize(t, blk)
			first, _, err := fs.StoreBatch(batchMsgs(5, "batch"))
			if err != nil || first != 4 {
				t.Fatalf("StoreBatch: %d %v", first, err)
			}
			after := fileSize(t, blk)
			if err := fs.Stop(); err != nil {
				t.Fatal(err)
			}
			whole, err := os.ReadFile(blk)
			if err != nil {
				t.Fatal(err)
			}
			for cut := before; cut <= after; cut++ {
				got := recoverCut(t, src, fcfg, cfg, whole[:cut])
				want := uint64(3)
				if cut == after {
					want = 8
				}
				if got != want {
					t.Fatalf("cut at %d of [%d,%d]: recovered %d messages, want %d", cut, before, after, got, want)
				}
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// recoverCut copies the store with its first block replaced by data and
// returns how many messages it recovers.
func recoverCut(t *testing.T, src string, fcfg FileStoreConfig, cfg *StreamConfig, data []byte) uint64 {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "msgs", "1.blk"), data, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dst, "msgs", "1.idx"))
	fcfg.Dir = dst
	fs, err := NewFileStore(fcfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Stop()
	var ss StreamState
	fs.FastState(&ss)
	if ss.Msgs > 3 {
		for seq := uint64(4); seq <= ss.LastSeq; seq++ {
			if _, err := fs.LoadMsg(seq, nil); err != nil {
				t.Fatalf("seq %d of a recovered batch: %v", seq, err)
			}
		}
	}
	// The store must take new writes after the cut.
	if _, _, err := fs.StoreMsg("after", nil, []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	return ss.Msgs
}

// A batch larger than a block stays in one block, and the store rotates
// normally afterwards; a batch refused by discard new stores nothing.
func TestStoreBatchBlockAndLimits(t *testing.T) {
	dir := t.TempDir()
	fs, err := NewFileStore(FileStoreConfig{Dir: dir, BlockSize: 256}, &StreamConfig{Name: "B", Storage: FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Stop()
	if _, _, err := fs.StoreMsg("a", nil, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fs.StoreBatch(batchMsgs(20, "big")); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	var holders []uint32
	for seq := uint64(2); seq <= 21; seq++ {
		holders = append(holders, uint32(fs.idx.slot(seq).loc>>32))
	}
	fs.mu.Unlock()
	for _, id := range holders {
		if id != holders[0] {
			t.Fatalf("batch spans blocks: %v", holders)
		}
	}
	if fs.fcfg.BlockSize != 256 {
		t.Fatalf("block size left at %d", fs.fcfg.BlockSize)
	}

	ms, err := NewMemStore(&StreamConfig{Name: "M", Storage: MemoryStorage, Discard: DiscardNew, MaxMsgs: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ms.StoreBatch(batchMsgs(3, "one")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ms.StoreBatch(batchMsgs(3, "two")); err != ErrMaxMsgs {
		t.Fatalf("over max_msgs: %v", err)
	}
	var ss StreamState
	ms.FastState(&ss)
	if ss.Msgs != 3 || ss.LastSeq != 3 {
		t.Fatalf("refused batch left %+v", ss)
	}
}
