package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type fsOrig struct {
	subj string
	msg  []byte
}

// fsBuildCorpus creates a stopped store with several blocks, removals and a
// consumer, returning every message ever stored and the live count.
func fsBuildCorpus(t *testing.T, fcfg FileStoreConfig, cfg *StreamConfig) (map[uint64]fsOrig, int, *ConsumerState) {
	fs := fsOpenT(t, fcfg, cfg)
	orig := map[uint64]fsOrig{}
	for i := 0; i < 60; i++ {
		subj := fmt.Sprintf("c.%d", i%4)
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, 20+i)
		orig[storeMust(t, fs, subj, []byte("NATS/1.0\r\n\r\n"), msg)] = fsOrig{subj, msg}
	}
	for _, seq := range []uint64{2, 17, 33} {
		fs.RemoveMsg(seq)
	}
	cs := &ConsumerState{Delivered: SequencePair{9, 40}, AckFloor: SequencePair{3, 20}}
	o, _ := fs.ConsumerStore("dur")
	if err := o.Update(cs); err != nil {
		t.Fatal(err)
	}
	if err := fs.Stop(); err != nil {
		t.Fatal(err)
	}
	return orig, 57, cs
}

func fsCopyDir(t *testing.T, src, dst string) {
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		out.Close()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fsListFiles(t *testing.T, dir string) []string {
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// TestFileStoreCorruption flips bytes and truncates files of every kind at
// random offsets. Whatever the damage: no panic, nothing corrupt served, and
// anything missing is reported (open error, lost data or a log line).
func TestFileStoreCorruption(t *testing.T) {
	variants := []struct {
		name string
		mod  func(*FileStoreConfig, *StreamConfig)
	}{
		{"plain", func(*FileStoreConfig, *StreamConfig) {}},
		{"s2", func(_ *FileStoreConfig, c *StreamConfig) { c.Compression = S2Compression }},
		{"chacha", func(f *FileStoreConfig, _ *StreamConfig) { f.Cipher, f.Key = ChaCha, []byte("k") }},
	}
	rng := rand.New(rand.NewSource(42))
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			base := t.TempDir()
			fcfg := FileStoreConfig{Dir: base, BlockSize: 1024}
			cfg := &StreamConfig{Name: "C"}
			v.mod(&fcfg, cfg)
			orig, live, cs := fsBuildCorpus(t, fcfg, cfg)
			files := fsListFiles(t, base)
			for iter := 0; iter < 60; iter++ {
				victim := files[iter%len(files)]
				rel, _ := filepath.Rel(base, victim)
				dir := t.TempDir()
				fsCopyDir(t, base, dir)
				target := filepath.Join(dir, rel)
				data, _ := os.ReadFile(target)
				if len(data) == 0 {
					continue
				}
				what := ""
				if rng.Intn(3) == 0 {
					cut := rng.Intn(len(data))
					os.WriteFile(target, data[:cut], 0o640)
					what = fmt.Sprintf("truncate %s at %d", rel, cut)
				} else {
					off := rng.Intn(len(data))
					data[off] ^= byte(1 + rng.Intn(255))
					os.WriteFile(target, data, 0o640)
					what = fmt.Sprintf("flip %s byte %d", rel, off)
				}
				if strings.HasSuffix(target, ".blk") && rng.Intn(2) == 0 {
					os.Remove(strings.TrimSuffix(target, ".blk") + ".idx")
					what += " (index removed)"
				}
				fsCheckCorrupted(t, what, dir, fcfg, cfg, orig, live, cs)
			}
		})
	}
}

func fsCheckCorrupted(t *testing.T, what, dir string, fcfg FileStoreConfig, cfg *StreamConfig, orig map[uint64]fsOrig, live int, cs *ConsumerState) {
	t.Helper()
	logged := 0
	fcfg.Dir = dir
	fcfg.Logf = func(string, ...any) { logged++ }
	fs, err := NewFileStore(fcfg, cfg)
	if err != nil {
		return // Detected at open; the stream fails alone.
	}
	defer fs.Stop()
	var s StreamState
	fs.FastState(&s)
	var sm StoreMsg
	loaded, failed := 0, 0
	for seq := s.FirstSeq; seq <= s.LastSeq && seq < s.FirstSeq+1000; seq++ {
		m, err := fs.LoadMsg(seq, &sm)
		if err != nil {
			if errors.Is(err, ErrStoreCorrupt) {
				failed++
			}
			continue
		}
		o, ok := orig[seq]
		if !ok || m.Subject != o.subj || !bytes.Equal(m.Msg, o.msg) {
			t.Fatalf("%s: seq %d served wrong content %q", what, seq, m.Msg)
		}
		loaded++
	}
	fs.FastState(&s)
	detected := logged > 0 || s.Lost != nil || failed > 0
	if loaded < live && !detected {
		t.Fatalf("%s: %d of %d messages missing without any report", what, live-loaded, live)
	}
	if o, err := fs.ConsumerStore("dur"); err == nil {
		if got, err := o.State(); err == nil && !reflect.DeepEqual(got, cs) {
			t.Fatalf("%s: consumer state served corrupt: %+v", what, got)
		}
	}
}

func TestFileStoreTornTailTruncated(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			dir := t.TempDir()
			var logs []string
			fcfg := FileStoreConfig{Dir: dir, BlockSize: 1 << 20, Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
			if enc {
				fcfg.Cipher, fcfg.Key = AES, []byte("k")
			}
			fs := fsOpenT(t, fcfg, &StreamConfig{Name: "T"})
			for i := 0; i < 10; i++ {
				storeMust(t, fs, "t", nil, []byte(fmt.Sprintf("msg %d", i)))
			}
			fs.Stop()
			// A write torn by a power cut: half of a last record, no index.
			blk := filepath.Join(dir, fsMsgsDir, "1.blk")
			os.Remove(filepath.Join(dir, fsMsgsDir, "1.idx"))
			data, _ := os.ReadFile(blk)
			f, _ := os.OpenFile(blk, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(data[len(data)-30:])
			f.Close()
			fs = fsOpenT(t, fcfg, &StreamConfig{Name: "T"})
			if !strings.Contains(strings.Join(logs, "\n"), "torn tail") {
				t.Fatalf("torn tail not logged: %v", logs)
			}
			if st, _ := os.Stat(blk); st.Size() != int64(len(data)) {
				t.Fatalf("tail not truncated: %d, was %d", st.Size(), len(data))
			}
			storeMust(t, fs, "t", nil, []byte("after"))
			fs.Stop()
			fs = fsOpenT(t, fcfg, &StreamConfig{Name: "T"})
			if s := fs.State(); s.Msgs != 11 || s.Lost != nil {
				t.Fatalf("state after torn tail: %+v", s)
			}
			storeCheckMsg(t, fs, 11, "t", nil, []byte("after"))
		})
	}
}

func TestFileStoreCorruptRecordReportedLost(t *testing.T) {
	dir := t.TempDir()
	fcfg := FileStoreConfig{Dir: dir, BlockSize: 1 << 20}
	fs := fsOpenT(t, fcfg, &StreamConfig{Name: "L"})
	for i := 0; i < 10; i++ {
		storeMust(t, fs, "l", nil, []byte(fmt.Sprintf("message number %d", i)))
	}
	fs.Stop()
	blk := filepath.Join(dir, fsMsgsDir, "1.blk")
	data, _ := os.ReadFile(blk)
	i := bytes.Index(data, []byte("message number 4"))
	data[i+3] ^= 0x20
	os.WriteFile(blk, data, 0o640)
	for _, withIdx := range []bool{true, false} {
		if !withIdx {
			os.Remove(filepath.Join(dir, fsMsgsDir, "1.idx"))
		}
		fs = fsOpenT(t, fcfg, &StreamConfig{Name: "L"})
		if _, err := fs.LoadMsg(5, nil); err == nil {
			t.Fatal("corrupt message served")
		}
		s := fs.State()
		if s.Lost == nil || !reflect.DeepEqual(s.Lost.Msgs, []uint64{5}) || s.Msgs != 9 {
			t.Fatalf("withIdx=%v: lost %+v msgs %d", withIdx, s.Lost, s.Msgs)
		}
		for seq := uint64(1); seq <= 10; seq++ {
			if seq != 5 {
				storeCheckMsg(t, fs, seq, "l", nil, []byte(fmt.Sprintf("message number %d", seq-1)))
			}
		}
		fs.Stop()
	}
}

// An empty or damaged meta.inf does not lose the stream: opened with its
// configuration, the store writes the file again, keeps every message and
// logs the damage. A wrong key is still refused (TestFileStoreWrongKey).
func TestFileStoreDamagedMetaRewritten(t *testing.T) {
	for _, damage := range []string{"empty", "bit flip"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			cfg := &StreamConfig{Name: "M", Subjects: []string{"m.>"}}
			fs := fsOpenT(t, FileStoreConfig{Dir: dir}, cfg)
			for i := 0; i < 10; i++ {
				storeMust(t, fs, "m.x", nil, []byte("payload"))
			}
			fs.Stop()
			meta := filepath.Join(dir, fsMetaFile)
			b, err := os.ReadFile(meta)
			if err != nil {
				t.Fatal(err)
			}
			if damage == "empty" {
				b = nil
			} else {
				b[len(b)/2] ^= 4
			}
			if err := os.WriteFile(meta, b, 0o640); err != nil {
				t.Fatal(err)
			}
			logs := &fsLogs{}
			fs2, err := NewFileStore(FileStoreConfig{Dir: dir, Logf: logs.logf}, cfg)
			if err != nil {
				t.Fatalf("open with a damaged meta.inf: %v", err)
			}
			defer fs2.Stop()
			var ss StreamState
			fs2.FastState(&ss)
			if ss.Msgs != 10 || ss.LastSeq != 10 {
				t.Fatalf("state after the rewrite: %+v", ss)
			}
			if !strings.Contains(strings.Join(logs.lines, "\n"), "meta.inf unreadable") {
				t.Fatalf("damage not logged: %q", logs.lines)
			}
			got, err := ReadFileStoreConfig(FileStoreConfig{Dir: dir}, "M")
			if err != nil || got.Name != "M" || len(got.Subjects) != 1 {
				t.Fatalf("meta.inf not written again: %v %+v", err, got)
			}
		})
	}
}
