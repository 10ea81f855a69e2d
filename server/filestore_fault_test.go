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
// removals, an erasure, a subject purge, a compaction, a restart, a full
// purge and more stores. It ignores errors (the model records only what
// succeeded) and returns the store still open, or nil if an open failed.
func fsFaultWorkload(fcfg FileStoreConfig, cfg *StreamConfig, model *fsCrashModel) (*FileStore, error) {
	st, err := NewFileStore(fcfg, cfg)
	if err != nil {
		return nil, err
	}
	i := 0
	for ; i < 24; i++ {
		fsFaultStore(st, model, i)
	}
	for _, seq := range []uint64{3, 8, 5} {
		seq := seq
		fsFaultRemove(model, func(s uint64, _ fsAck) bool { return s == seq }, func() error {
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
	fsFaultRemove(model, func(_ uint64, a fsAck) bool { return a.w == 1 }, func() error {
		_, err := st.PurgeEx("crash.1", 0, 0)
		return err
	})
	for ; i < 34; i++ {
		fsFaultStore(st, model, i)
	}
	fsFaultRemove(model, func(s uint64, _ fsAck) bool { return s < 14 }, func() error {
		_, err := st.Compact(14)
		return err
	})
	o, err := st.ConsumerStore("dur")
	if err == nil {
		_ = o.Update(&ConsumerState{Delivered: SequencePair{1, 20}, AckFloor: SequencePair{1, 20}})
	}
	st.Stop()
	if st, err = NewFileStore(fcfg, cfg); err != nil {
		return nil, err
	}
	for ; i < 44; i++ {
		fsFaultStore(st, model, i)
	}
	fsFaultRemove(model, func(uint64, fsAck) bool { return true }, func() error {
		_, err := st.Purge()
		return err
	})
	for ; i < 50; i++ {
		fsFaultStore(st, model, i)
	}
	return st, nil
}

// fsFaultRun runs the workload with call nth failing with errno, then
// checks the machine after a crash and after a clean stop.
func fsFaultRun(t *testing.T, fcfg FileStoreConfig, cfg *StreamConfig, nth int, errno syscall.Errno) int {
	t.Helper()
	mem := newMemFS()
	fault := &memFault{nth: nth, err: errno}
	mem.fault = fault.check
	fcfg.fsys = mem
	model := newFsCrashModel()
	what := fmt.Sprintf("call %d fails with %v", nth, errno)
	done := make(chan *FileStore, 1)
	go func() {
		st, _ := fsFaultWorkload(fcfg, cfg, model)
		done <- st
	}()
	var st *FileStore
	select {
	case st = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the workload hung", what)
	}
	what += " (" + fault.hit + ")"
	crashed := mem.crashCopy()
	if st != nil {
		st.Stop()
	}
	mem.fault = nil
	for _, c := range []struct {
		name string
		sys  *memFS
	}{{"after a crash", crashed}, {"after a stop", mem}} {
		var logs []string
		fcfg.fsys = c.sys
		fcfg.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
		re, err := NewFileStore(fcfg, cfg)
		if err != nil {
			t.Fatalf("%s: reopen %s failed: %v", what, c.name, err)
		}
		fsCheckCrashModel(t, fmt.Sprintf("%s %s (recovery: %q)", what, c.name, logs), re, model, true)
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
		name string
		mod  func(*FileStoreConfig, *StreamConfig)
	}{
		{"plain", nil},
		{"chacha-s2", func(f *FileStoreConfig, c *StreamConfig) {
			f.Cipher, f.Key, c.Compression = ChaCha, []byte("k"), S2Compression
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			fcfg := FileStoreConfig{Dir: "/js/S", BlockSize: 512, SyncAlways: true}
			cfg := &StreamConfig{Name: "S"}
			if v.mod != nil {
				v.mod(&fcfg, cfg)
			}
			total := fsFaultRun(t, fcfg, cfg, 0, 0)
			if total < 100 {
				t.Fatalf("the workload made only %d calls", total)
			}
			for n := 1; n <= total; n++ {
				for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EIO} {
					fsFaultRun(t, fcfg, cfg, n, e)
				}
			}
		})
	}
}
