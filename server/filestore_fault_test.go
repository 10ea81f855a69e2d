package server

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// fsFaultStore stores message i of the fault workload and records the ack.
func fsFaultStore(st StreamStore, model *fsCrashModel, i int) {
	w := i % 4
	seq, _, err := st.StoreMsg(fmt.Sprintf("crash.%d", w), nil, fsCrashPayload(w, i), 0)
	if err == nil {
		model.acked[seq] = fsAck{w, i}
	}
}

// fsFaultBatch stores messages i..i+n-1 as one atomic batch, recording the
// acks and the batch (for fsCheckBatches).
func fsFaultBatch(st *FileStore, model *fsCrashModel, i, n int) {
	var msgs []storeBatchMsg
	var batch []fsAck
	for k := i; k < i+n; k++ {
		msgs = append(msgs, storeBatchMsg{subject: fmt.Sprintf("crash.%d", k%4), msg: fsCrashPayload(k%4, k)})
		batch = append(batch, fsAck{k % 4, k})
	}
	model.batches = append(model.batches, batch)
	first, _, err := st.StoreBatch(msgs)
	if err == nil {
		for k, a := range batch {
			model.acked[first+uint64(k)] = a
		}
	}
}

// fsCheckBatches checks that each batch of the model is in the store whole
// or not at all.
func fsCheckBatches(t *testing.T, what string, st StreamStore, model *fsCrashModel) {
	t.Helper()
	present := map[fsAck]bool{}
	var s StreamState
	st.FastState(&s)
	var sm StoreMsg
	for seq := s.FirstSeq; seq <= s.LastSeq; seq++ {
		if m, err := st.LoadMsg(seq, &sm); err == nil {
			var a fsAck
			if _, err := fmt.Sscanf(string(m.Msg), "w%d-i%d;", &a.w, &a.i); err == nil {
				present[a] = true
			}
		}
	}
	for _, batch := range model.batches {
		n := 0
		for _, a := range batch {
			if present[a] {
				n++
			}
		}
		if n != 0 && n != len(batch) {
			t.Fatalf("%s: %d of the %d messages of an atomic batch are in the stream", what, n, len(batch))
		}
	}
}

// fsFaultRemove removes every acknowledged message that pick selects with
// op, recording what was asked and what was acknowledged.
func fsFaultRemove(model *fsCrashModel, pick func(seq uint64, a fsAck) bool, op func() error) {
	var picked []uint64
	for seq, a := range model.acked {
		if pick(seq, a) && !model.removed[seq] {
			picked = append(picked, seq)
			model.asked[seq] = true
		}
	}
	if op() == nil {
		for _, seq := range picked {
			model.removed[seq] = true
		}
	}
}

// fsFaultWorkload is the scripted workload: stores across several blocks,
// removals, an erasure, a subject purge, removals that make blocks
// compact, a compaction floor, a consumer update, a restart, a full purge
// and more stores. It ignores errors (the model records only what
// succeeded), calls check on the running store after every step, and
// returns the store still open, or nil if an open failed.
func fsFaultWorkload(fcfg, rcfg FileStoreConfig, cfg *StreamConfig, model *fsCrashModel, check func(StreamStore)) (*FileStore, error) {
	st, err := NewFileStore(fcfg, cfg)
	if err != nil {
		return nil, err
	}
	i := 0
	storeTo := func(n int) {
		for ; i < n; i++ {
			fsFaultStore(st, model, i)
		}
		check(st)
	}
	remove := func(pick func(uint64, fsAck) bool, op func() error) {
		fsFaultRemove(model, pick, op)
		check(st)
	}
	storeTo(24)
	for _, seq := range []uint64{3, 8, 5} {
		seq := seq
		remove(func(s uint64, _ fsAck) bool { return s == seq }, func() error {
			var ok bool
			var err error
			if seq == 5 {
				ok, err = st.EraseMsg(seq)
			} else {
				ok, err = st.RemoveMsg(seq)
			}
			if err == nil && !ok {
				err = ErrStoreMsgNotFound
			}
			return err
		})
	}
	remove(func(_ uint64, a fsAck) bool { return a.w == 1 }, func() error {
		_, err := st.PurgeEx("crash.1", 0, 0)
		return err
	})
	storeTo(34)
	// Blocks left mostly empty get compacted (rewritten with new offsets).
	remove(func(s uint64, _ fsAck) bool { return s >= 15 && s <= 30 && s%5 != 0 }, func() error {
		for s := uint64(15); s <= 30; s++ {
			if s%5 != 0 {
				if _, err := st.RemoveMsg(s); err != nil {
					return err
				}
			}
		}
		return nil
	})
	storeTo(38)
	remove(func(s uint64, _ fsAck) bool { return s < 14 }, func() error {
		_, err := st.Compact(14)
		return err
	})
	o, err := st.ConsumerStore("dur")
	if err == nil {
		_ = o.Update(&ConsumerState{Delivered: SequencePair{1, 20}, AckFloor: SequencePair{1, 20}})
	}
	st.Stop()
	if st, err = fsFaultReopen(rcfg, cfg); err != nil {
		return nil, err
	}
	check(st)
	storeTo(42)
	fsFaultBatch(st, model, i, 3)
	i += 3
	check(st)
	storeTo(46)
	remove(func(uint64, fsAck) bool { return true }, func() error {
		_, err := st.Purge()
		return err
	})
	storeTo(50)
	fsFaultBatch(st, model, i, 4)
	check(st)
	return st, nil
}

// fsFaultReopen opens the store for the second half of the workload; with
// a key rotation configured it waits for the rotation to finish or to skip
// something, so that the order of calls does not depend on scheduling.
func fsFaultReopen(rcfg FileStoreConfig, cfg *StreamConfig) (*FileStore, error) {
	st, err := NewFileStore(rcfg, cfg)
	for deadline := time.Now().Add(5 * time.Second); err == nil && !st.rekeyIdle.Load() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Microsecond)
	}
	return st, err
}

// fsFaultRun runs the workload with call nth failing with errno, then
// checks the machine after a crash and after a clean stop. The second half
// of the workload and the checks open the store with rcfg.
func fsFaultRun(t *testing.T, fcfg, rcfg FileStoreConfig, cfg *StreamConfig, nth int, errno syscall.Errno) int {
	t.Helper()
	mem := newMemFS()
	fault := &memFault{nth: nth, err: errno}
	mem.setFault(fault.check)
	fcfg.fsys, rcfg.fsys = mem, mem
	model := newFsCrashModel()
	what := fmt.Sprintf("call %d fails with %v", nth, errno)
	// A hang is reported by a panic, with every goroutine's stack.
	watchdog := time.AfterFunc(20*time.Second, func() { panic(what + ": the workload hung") })
	st, _ := fsFaultWorkload(fcfg, rcfg, cfg, model, func(live StreamStore) {
		// An I/O error leaves the store readable: everything acknowledged
		// is served right by the running store.
		mem.setFault(nil)
		defer mem.setFault(fault.check)
		fsCheckCrashModel(t, fmt.Sprintf("%s (%s) while running", what, fault.hit), live, model, true)
	})
	watchdog.Stop()
	what += " (" + fault.hit + ")"
	crashed := mem.crashCopy()
	if st != nil {
		st.Stop()
	}
	mem.setFault(nil)
	for _, c := range []struct {
		name string
		sys  *memFS
	}{{"after a crash", crashed}, {"after a stop", mem}} {
		logs := &fsLogs{}
		rcfg.fsys, rcfg.Logf = c.sys, logs.logf
		re, err := NewFileStore(rcfg, cfg)
		if err != nil {
			t.Fatalf("%s: reopen %s failed: %v", what, c.name, err)
		}
		logs.mu.Lock()
		recovery := fmt.Sprintf("%q", logs.lines)
		logs.mu.Unlock()
		fsCheckCrashModel(t, fmt.Sprintf("%s %s (recovery: %s)", what, c.name, recovery), re, model, true)
		fsCheckBatches(t, what+" "+c.name, re, model)
		re.Stop()
	}
	return fault.calls
}

// TestFileStoreFaultInjection fails every filesystem call of a scripted
// workload in turn, with ENOSPC and with EIO, as pebble's errorfs does:
// whatever fails, no acknowledged message or removal is lost, nothing
// wrong is served, nothing hangs or panics, and the store reopens once the
// fault is gone (after a crash as after a clean stop).
func TestFileStoreFaultInjection(t *testing.T) {
	variants := []struct {
		name   string
		mod    func(*FileStoreConfig, *StreamConfig)
		reopen func(*FileStoreConfig)
	}{
		{"plain", nil, nil},
		{"chacha-s2", func(f *FileStoreConfig, c *StreamConfig) {
			f.Cipher, f.Key, c.Compression = ChaCha, []byte("k"), S2Compression
		}, nil},
		// The restart turns on encryption of the clear blocks.
		{"encrypt-existing", nil, func(f *FileStoreConfig) {
			f.Cipher, f.Key, f.EncryptExisting, f.RotateStreamKey, f.rekeyRetry = AES, []byte("k"), true, true, time.Hour
		}},
		// The restart rotates the stream key.
		{"rotate", func(f *FileStoreConfig, _ *StreamConfig) { f.Cipher, f.Key = AES, []byte("k1") }, func(f *FileStoreConfig) {
			f.Key, f.PrevKey, f.RotateStreamKey, f.rekeyRetry = []byte("k2"), []byte("k1"), true, time.Hour
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			// A small cache makes reads go back to the files.
			fcfg := FileStoreConfig{Dir: "/js/S", BlockSize: 512, SyncAlways: true, CacheSize: 1024}
			cfg := &StreamConfig{Name: "S"}
			if v.mod != nil {
				v.mod(&fcfg, cfg)
			}
			rcfg := fcfg
			if v.reopen != nil {
				v.reopen(&rcfg)
			}
			total := fsFaultRun(t, fcfg, rcfg, cfg, 0, 0)
			if total < 100 {
				t.Fatalf("the workload made only %d calls", total)
			}
			step := 1
			if raceEnabled {
				step = 5 // Every fifth call: the race detector is ten times slower.
			}
			for n := 1; n <= total; n += step {
				for i, e := range []syscall.Errno{syscall.ENOSPC, syscall.EIO} {
					// Both errors at every call for the first variant; the
					// others alternate, to stay fast.
					if v.name == "plain" || i == n%2 {
						fsFaultRun(t, fcfg, rcfg, cfg, n, e)
					}
				}
			}
		})
	}
}
