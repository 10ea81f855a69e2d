package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// raftFilesContain reports the files under dir whose bytes contain needle.
func raftFilesContain(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

// With a key, neither the log segments nor the snapshot hold a proposed
// payload in clear; the group recovers it after a restart; a wrong key or
// no key is refused with a clear error; prev_key opens a log sealed with
// the old key and re-seals the group's key with the new one.
func TestRaftLogEncryptedAtRest(t *testing.T) {
	for _, cph := range []StoreCipher{ChaCha, AES} {
		t.Run(cph.String(), func(t *testing.T) {
			rc := raftCrypt{cipher: cph, key: []byte("s3cr3t-server-key")}
			c := newRaftTestClusterCrypt(t, 3, 16, rc)
			var want []string
			for i := 0; i < 40; i++ { // past two snapshots
				v := fmt.Sprintf("PAYLOAD-IN-CLEAR-%03d", i)
				c.propose(v)
				want = append(want, v)
			}
			for _, id := range c.ids {
				c.waitApplied(id, want)
			}
			for _, id := range c.ids {
				c.stop(id)
			}
			if hits := raftFilesContain(t, c.dir, []byte("PAYLOAD-IN-CLEAR")); len(hits) > 0 {
				t.Fatalf("payload in clear in %v", hits)
			}
			if _, err := os.Stat(filepath.Join(c.dir, "1", "snap")); err != nil {
				t.Fatalf("no snapshot written: %v", err)
			}
			for _, id := range c.ids {
				c.start(id)
			}
			for _, id := range c.ids {
				c.waitApplied(id, want)
			}
			c.propose("after-restart")
			want = append(want, "after-restart")
			c.waitApplied(1, want)
			for _, id := range c.ids {
				c.stop(id)
			}
			dir := filepath.Join(c.dir, "1")
			start := func(rc raftCrypt) error {
				n, err := startRaftNode(raftNodeConfig{id: 1, group: "G", dir: dir, fsm: &raftTestFSM{},
					transport: c.net, crypt: rc})
				if err == nil {
					n.Stop()
				}
				return err
			}
			if err := start(raftCrypt{cipher: cph, key: []byte("wrong")}); err == nil ||
				!strings.Contains(err.Error(), "error decrypting its key") {
				t.Fatalf("wrong key: %v", err)
			}
			if err := start(raftCrypt{}); !errors.Is(err, errRaftNoKey) {
				t.Fatalf("no key: %v", err)
			}
			// A key change with prev_key re-seals; then the new key alone opens.
			if err := start(raftCrypt{cipher: cph, key: []byte("new-key"), prevKey: rc.key}); err != nil {
				t.Fatalf("prev_key: %v", err)
			}
			if err := start(raftCrypt{cipher: cph, key: []byte("new-key")}); err != nil {
				t.Fatalf("new key after re-seal: %v", err)
			}
			if err := start(rc); err == nil {
				t.Fatal("the old key still opens the log after the re-seal")
			}
		})
	}
}

// A sealed record that does not open is corruption, never a torn tail to
// cut off; a flipped bit fails the record's CRC first.
func TestRaftLogSealedRecordTampered(t *testing.T) {
	dir := t.TempDir()
	rc := raftCrypt{cipher: ChaCha, key: []byte("k")}
	seal, err := openRaftSealer(osFS{}, dir, "G", rc)
	if err != nil || seal == nil {
		t.Fatalf("sealer: %v %v", seal, err)
	}
	l, err := openRaftLogSealed(osFS{}, dir, seal)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.save(nil, raftTestEntries(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	l.close()
	// Another group's key (same server key, other label) cannot open it.
	other, err := openRaftSealer(osFS{}, t.TempDir(), "H", rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openRaftLogSealed(osFS{}, dir, other); !errors.Is(err, errRaftLogCorrupt) {
		t.Fatalf("other key: %v", err)
	}
	seal, _ = openRaftSealer(osFS{}, dir, "G", rc)
	l, err = openRaftLogSealed(osFS{}, dir, seal)
	if err != nil || len(l.ents) != 3 || l.ents[2].GetIndex() != 3 {
		t.Fatalf("reopen: %v %v", err, l)
	}
	l.close()
}

// FuzzRaftLogRecoverSealed feeds arbitrary segment bytes to the recovery
// of an encrypted log: sealed records that do not open, clear ones mixed
// in, bad lengths: recover or refuse, never panic.
func FuzzRaftLogRecoverSealed(f *testing.F) {
	seal, err := newRaftSealer(ChaCha, make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	l := &raftLog{seal: seal}
	seed := []byte(raftSegMagic)
	for _, e := range raftTestEntries(1, 3, 1) {
		seed = l.appendEntry(seed, e)
	}
	seed = appendEntryRecord(seed, raftTestEntries(4, 4, 1)[0]) // a clear one too
	f.Add(seed)
	f.Add([]byte(raftSegMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &raftLog{seal: seal}
		seg := raftSegment{}
		l.replayRecords(data, &seg)
	})
}

// BenchmarkRaftRecordAppend: framing one 1 KiB entry record, clear and
// sealed (the CPU a sealed log adds before its fsync; no allocation).
func BenchmarkRaftRecordAppend(b *testing.B) {
	e := raftTestEntries(1, 1, 1)[0]
	e.Data = make([]byte, 1024)
	for _, c := range []StoreCipher{NoCipher, ChaCha, AES} {
		b.Run(c.String(), func(b *testing.B) {
			l := &raftLog{}
			if c != NoCipher {
				seal, err := newRaftSealer(c, make([]byte, 32))
				if err != nil {
					b.Fatal(err)
				}
				l.seal = seal
			}
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(e.Data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf = l.appendEntry(buf[:0], e)
			}
		})
	}
}
