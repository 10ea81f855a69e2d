package server

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fsCrashModel is what a test knows about a store across crashes: the
// messages whose store returned success, the removals asked for (they may
// or may not have happened) and those that returned success.
type fsCrashModel struct {
	mu      sync.Mutex
	acked   map[uint64]fsAck
	asked   map[uint64]bool
	removed map[uint64]bool
	batches [][]fsAck // Messages stored together as atomic batches.
}

func newFsCrashModel() *fsCrashModel {
	return &fsCrashModel{acked: map[uint64]fsAck{}, asked: map[uint64]bool{}, removed: map[uint64]bool{}}
}

func (m *fsCrashModel) clone() *fsCrashModel {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newFsCrashModel()
	for k, v := range m.acked {
		c.acked[k] = v
	}
	for k := range m.asked {
		c.asked[k] = true
	}
	for k := range m.removed {
		c.removed[k] = true
	}
	return c
}

// fsCrashWriters stores (and removes every 7th message) from four
// goroutines until stop is closed or each has stored n messages.
func fsCrashWriters(st StreamStore, model *fsCrashModel, round, n int, stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := round * 1000; i < round*1000+n; i++ {
				select {
				case <-stop:
					return
				default:
				}
				seq, _, err := st.StoreMsg(fmt.Sprintf("crash.%d", w), nil, fsCrashPayload(w, i), 0)
				if err != nil {
					return
				}
				model.mu.Lock()
				model.acked[seq] = fsAck{w, i}
				model.mu.Unlock()
				if i%7 != 3 {
					continue
				}
				model.mu.Lock()
				model.asked[seq] = true
				model.mu.Unlock()
				if ok, err := st.RemoveMsg(seq); ok && err == nil {
					model.mu.Lock()
					model.removed[seq] = true
					model.mu.Unlock()
				}
			}
		}(w)
	}
	return &wg
}

// fsCrashPayloadOK reports whether msg is a payload some writer could have
// stored on subject.
func fsCrashPayloadOK(subj string, msg []byte) bool {
	unit, _, ok := bytes.Cut(msg, []byte(";"))
	ws, is, ok2 := bytes.Cut(unit, []byte("-i"))
	if !ok || !ok2 || len(ws) < 2 || ws[0] != 'w' {
		return false
	}
	w, err1 := strconv.Atoi(string(ws[1:]))
	i, err2 := strconv.Atoi(string(is))
	return err1 == nil && err2 == nil && subj == "crash."+strconv.Itoa(w) && bytes.Equal(msg, fsCrashPayload(w, i))
}

// fsCheckCrashModel checks a reopened store against the model: with durable
// acks, every acknowledged message is there with its exact bytes and every
// acknowledged removal stayed; in any case nothing served is wrong.
func fsCheckCrashModel(t *testing.T, what string, st StreamStore, model *fsCrashModel, durable bool) {
	t.Helper()
	var sm StoreMsg
	for seq, a := range model.acked {
		m, err := st.LoadMsg(seq, &sm)
		switch {
		case model.removed[seq] && durable:
			if err == nil {
				t.Fatalf("%s: acknowledged removal of %d undone", what, seq)
			}
		case err == nil:
			if m.Subject != fmt.Sprintf("crash.%d", a.w) || !bytes.Equal(m.Msg, fsCrashPayload(a.w, a.i)) {
				t.Fatalf("%s: seq %d served a wrong payload %q", what, seq, m.Msg)
			}
		case model.asked[seq] && errors.Is(err, ErrStoreMsgNotFound):
		case durable:
			t.Fatalf("%s: acknowledged seq %d lost: %v", what, seq, err)
		default:
			// Lost with its unsynced write: the sequence may be reused.
			delete(model.acked, seq)
		}
	}
	var s StreamState
	st.FastState(&s)
	if durable && s.Lost != nil {
		t.Fatalf("%s: a crash was reported as lost data: %+v", what, s.Lost)
	}
	for seq := s.FirstSeq; seq <= s.LastSeq; seq++ {
		m, err := st.LoadMsg(seq, &sm)
		if errors.Is(err, ErrStoreMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: seq %d in the stream but unreadable: %v", what, seq, err)
		}
		if !fsCrashPayloadOK(m.Subject, m.Msg) {
			t.Fatalf("%s: seq %d served a wrong payload %q on %q", what, seq, m.Msg, m.Subject)
		}
	}
}

// TestFileStoreCrashStrictFS runs writers against a store on memFS and cuts
// the power at random moments: the reboot keeps only what was fsynced (and,
// in the torn modes, part of what was written since). With sync always,
// every acknowledged message must come back with its exact bytes and every
// acknowledged removal must stay done; with an interval, what comes back
// must be right. Each round reopens what the previous crash left.
func TestFileStoreCrashStrictFS(t *testing.T) {
	variants := []struct {
		name    string
		durable bool
		torn    bool
		mod     func(*FileStoreConfig, *StreamConfig)
	}{
		{"always-bigblocks", true, false, func(f *FileStoreConfig, _ *StreamConfig) { f.BlockSize = 1 << 20 }},
		{"always-torn", true, true, nil},
		{"always-s2", true, false, func(_ *FileStoreConfig, c *StreamConfig) { c.Compression = S2Compression }},
		{"always-chacha", true, true, func(f *FileStoreConfig, _ *StreamConfig) { f.Cipher, f.Key = ChaCha, []byte("k") }},
		{"always-aes-s2", true, false, func(f *FileStoreConfig, c *StreamConfig) {
			f.Cipher, f.Key, c.Compression = AES, []byte("k"), S2Compression
		}},
		{"interval-torn", false, true, nil},
		{"interval-chacha-s2", false, false, func(f *FileStoreConfig, c *StreamConfig) {
			f.Cipher, f.Key, c.Compression = ChaCha, []byte("k"), S2Compression
		}},
	}
	for vi, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(vi) + time.Now().UnixNano()))
			mem := newMemFS()
			fcfg := FileStoreConfig{Dir: "/js/jetstream/A/streams/CRASH", BlockSize: 1024, SyncAlways: v.durable, fsys: mem}
			cfg := &StreamConfig{Name: "CRASH"}
			if v.mod != nil {
				v.mod(&fcfg, cfg)
			}
			model := newFsCrashModel()
			for round := 0; round < 8; round++ {
				fsCrashRound(t, rng, &mem, fcfg, cfg, &model, round, v.durable, v.torn)
			}
			if len(model.acked) < 100 {
				t.Fatalf("only %d acknowledged stores over all rounds", len(model.acked))
			}
		})
	}
}

func fsCrashRound(t *testing.T, rng *rand.Rand, mem **memFS, fcfg FileStoreConfig, cfg *StreamConfig, model **fsCrashModel, round int, durable, torn bool) {
	t.Helper()
	fcfg.fsys = *mem
	st, err := NewFileStore(fcfg, cfg)
	if err != nil {
		t.Fatalf("round %d: reopen after the crash failed: %v", round, err)
	}
	fsCheckCrashModel(t, fmt.Sprintf("round %d", round), st, *model, durable)
	stop := make(chan struct{})
	(*model).mu.Lock()
	target := len((*model).acked) + 20 + rng.Intn(100)
	(*model).mu.Unlock()
	wg := fsCrashWriters(st, *model, round, 40+rng.Intn(80), stop)
	memWaitFor(5*time.Second, func() bool {
		(*model).mu.Lock()
		defer (*model).mu.Unlock()
		return len((*model).acked) >= target
	})
	if round%4 == 3 {
		// A clean stop now and then: everything acknowledged must survive it.
		close(stop)
		wg.Wait()
		if err := st.Stop(); err != nil {
			t.Fatalf("round %d: stop: %v", round, err)
		}
		*mem = (*mem).crashCopy()
		return
	}
	// Acks taken before the cut are exactly those the cut must keep.
	kept := (*model).clone()
	if torn {
		(*mem).torn = rand.New(rand.NewSource(rng.Int63()))
	}
	after := (*mem).crashCopy()
	close(stop)
	wg.Wait()
	st.Stop()
	*mem, *model = after, kept
}

// TestFileStoreStrictFSNeedsDirSync proves the strict filesystem bites: a
// stream whose directory entries were never synced does not survive.
func TestFileStoreStrictFSNeedsDirSync(t *testing.T) {
	mem := newMemFS()
	if err := mem.Mkdir("/d", 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := mem.OpenFile("/d/x", os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("data"), 0)
	f.Sync()
	if _, err := mem.crashCopy().ReadFile("/d/x"); err == nil {
		t.Fatal("a file in a directory never synced survived the crash")
	}
	mem.SyncDir("/")
	mem.SyncDir("/d")
	got, err := mem.crashCopy().ReadFile("/d/x")
	if err != nil || string(got) != "data" {
		t.Fatalf("synced file after crash: %q %v", got, err)
	}
	f.WriteAt([]byte("more"), 4)
	if got, _ := mem.crashCopy().ReadFile("/d/x"); string(got) != "data" {
		t.Fatalf("unsynced write survived: %q", got)
	}
	if !strings.Contains(fmt.Sprint(mem.Remove("/d")), "not empty") {
		t.Fatal("removed a non-empty directory")
	}
}

// A consumer's config is durable once written, whatever the sync policy: a
// power cut right after a create keeps the consumer (its state, flushed
// later, follows the policy).
func TestFileStoreConsumerMetaSurvivesPowerCut(t *testing.T) {
	mem := newMemFS()
	fcfg := FileStoreConfig{Dir: "/js/jetstream/A/streams/S", fsys: mem}
	cfg := &StreamConfig{Name: "S"}
	fs := fsOpenT(t, fcfg, cfg)
	o, err := fs.ConsumerStore("dur")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.(consumerMetaStore).WriteMeta([]byte(`{"config":{"durable_name":"dur"}}`), true); err != nil {
		t.Fatal(err)
	}
	fcfg.fsys = mem.crashCopy()
	re := fsOpenT(t, fcfg, cfg)
	ro, err := re.ConsumerStore("dur")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := ro.(consumerMetaStore).Meta()
	if err != nil || string(meta) != `{"config":{"durable_name":"dur"}}` {
		t.Fatalf("config after a power cut: %q %v", meta, err)
	}
}

// An ephemeral consumer is created without syncing anything (the
// reference syncs no consumer create): its store directory and config are
// written, readable, and cost no fsync, so the create's answer does not
// wait for the disk. A durable one still syncs (above).
func TestFileStoreEphemeralConsumerCreateNoSync(t *testing.T) {
	mem := newMemFS()
	fcfg := FileStoreConfig{Dir: "/js/jetstream/A/streams/S", fsys: mem}
	fs := fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	// The stream's first consumer creates (and syncs) the consumers'
	// directory, once.
	if _, err := fs.ConsumerStore("first"); err != nil {
		t.Fatal(err)
	}
	var syncs []string
	var mu sync.Mutex
	mem.setFault(func(op, name string) error {
		if op == "sync" || op == "syncdir" {
			mu.Lock()
			syncs = append(syncs, op+" "+name)
			mu.Unlock()
		}
		return nil
	})
	o, err := fs.ConsumerStore("eph")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.(consumerMetaStore).WriteMeta([]byte(`{"config":{"name":"eph"}}`), false); err != nil {
		t.Fatal(err)
	}
	mem.setFault(nil)
	if len(syncs) != 0 {
		t.Fatalf("an ephemeral consumer's create synced: %v", syncs)
	}
	if meta, err := o.(consumerMetaStore).Meta(); err != nil || string(meta) != `{"config":{"name":"eph"}}` {
		t.Fatalf("config: %q %v", meta, err)
	}
}
