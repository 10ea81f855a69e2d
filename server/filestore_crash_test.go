package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	fsCrashDirEnv  = "NF_STORE_CRASH_DIR"
	fsCrashModeEnv = "NF_STORE_CRASH_MODE"
)

func fsCrashConfig(dir, mode string) FileStoreConfig {
	fcfg := FileStoreConfig{Dir: dir, BlockSize: 8192}
	if strings.Contains(mode, "always") {
		fcfg.SyncAlways = true
	}
	if strings.Contains(mode, "enc") {
		fcfg.Cipher, fcfg.Key = ChaCha, []byte("crash key")
	}
	return fcfg
}

func fsCrashPayload(w, i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("w%d-i%d;", w, i)), 1+i%7)
}

// TestFileStoreCrashHelper is the writer process of TestFileStoreCrash; it
// does nothing unless started by it. It stores from several goroutines and
// prints "s <seq> <writer> <i>" after each store returns, "r <seq>" before
// a removal and "d <seq>" after it returns, until it is killed.
func TestFileStoreCrashHelper(t *testing.T) {
	dir := os.Getenv(fsCrashDirEnv)
	if dir == "" {
		return
	}
	mode := os.Getenv(fsCrashModeEnv)
	fs, err := NewFileStore(fsCrashConfig(dir, mode), &StreamConfig{Name: "CRASH", Compression: S2Compression})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
				seq, _, err := fs.StoreMsg(fmt.Sprintf("crash.%d", w), nil, fsCrashPayload(w, i), 0)
				if err != nil {
					fmt.Printf("error %v\n", err)
					os.Exit(3)
				}
				out.Lock()
				fmt.Printf("s %d %d %d\n", seq, w, i)
				out.Unlock()
				if i%10 == 9 {
					out.Lock()
					fmt.Printf("r %d\n", seq)
					out.Unlock()
					if ok, _ := fs.RemoveMsg(seq); ok {
						out.Lock()
						fmt.Printf("d %d\n", seq)
						out.Unlock()
					}
				}
			}
		}(w)
	}
	wg.Wait()
	os.Exit(0)
}

type fsAck struct{ w, i int }

// fsRunCrashHelper runs the writer and SIGKILLs it after about n acks.
func fsRunCrashHelper(t *testing.T, dir, mode string, n int, acks map[uint64]fsAck, dels map[uint64]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), fsCrashDirEnv+"="+dir, fsCrashModeEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(15*time.Second, func() { cmd.Process.Signal(syscall.SIGKILL) })
	defer timer.Stop()
	sc := bufio.NewScanner(stdout)
	got := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "s":
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			w, _ := strconv.Atoi(f[2])
			i, _ := strconv.Atoi(f[3])
			acks[seq] = fsAck{w, i}
			got++
		case len(f) == 2 && (f[0] == "d" || f[0] == "r"):
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			dels[seq] = dels[seq] || f[0] == "d"
		default:
			if strings.HasPrefix(sc.Text(), "error") {
				t.Errorf("helper: %s", sc.Text())
			}
		}
		if got >= n {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	// Drain what was acknowledged before the kill landed.
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "s" {
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			w, _ := strconv.Atoi(f[2])
			i, _ := strconv.Atoi(f[3])
			acks[seq] = fsAck{w, i}
		} else if len(f) == 2 && (f[0] == "d" || f[0] == "r") {
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			dels[seq] = dels[seq] || f[0] == "d"
		}
	}
	_ = cmd.Wait()
}

func TestFileStoreCrash(t *testing.T) {
	for _, mode := range []string{"interval", "always", "always-enc"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			acks := map[uint64]fsAck{}
			dels := map[uint64]bool{}
			for round := 0; round < 4; round++ {
				fsRunCrashHelper(t, dir, mode, 100+rng.Intn(1500), acks, dels)
				fsVerifyCrash(t, dir, mode, round, acks, dels)
			}
			if len(acks) < 400 {
				t.Fatalf("only %d acknowledged stores over all rounds", len(acks))
			}
		})
	}
}

func fsVerifyCrash(t *testing.T, dir, mode string, round int, acks map[uint64]fsAck, dels map[uint64]bool) {
	t.Helper()
	var logs []string
	fcfg := fsCrashConfig(dir, mode)
	fcfg.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	fs, err := NewFileStore(fcfg, &StreamConfig{Name: "CRASH", Compression: S2Compression})
	if err != nil {
		t.Fatalf("round %d: recovery failed: %v", round, err)
	}
	defer fs.Stop()
	if len(logs) > 0 {
		t.Logf("round %d recovery: %v", round, logs)
	}
	var sm StoreMsg
	for seq, a := range acks {
		m, err := fs.LoadMsg(seq, &sm)
		removed, asked := dels[seq]
		if removed && err == nil {
			t.Fatalf("round %d: acknowledged removal of %d undone", round, seq)
		}
		if asked && errors.Is(err, ErrStoreMsgNotFound) {
			continue // A removal in flight at the kill may or may not have happened.
		}
		if err != nil {
			t.Fatalf("round %d: acknowledged seq %d lost: %v (logs %v)", round, seq, err, logs)
		}
		if m.Subject != fmt.Sprintf("crash.%d", a.w) || !bytes.Equal(m.Msg, fsCrashPayload(a.w, a.i)) {
			t.Fatalf("round %d: seq %d has wrong content", round, seq)
		}
	}
	// Whatever else survived must be intact too.
	var s StreamState
	fs.FastState(&s)
	if s.Lost != nil {
		t.Fatalf("round %d: data reported lost after a crash: %+v", round, s.Lost)
	}
	for seq := s.FirstSeq; seq <= s.LastSeq; seq++ {
		m, err := fs.LoadMsg(seq, &sm)
		if errors.Is(err, ErrStoreMsgNotFound) {
			continue
		}
		if err != nil || !strings.HasPrefix(m.Subject, "crash.") {
			t.Fatalf("round %d: seq %d: %v", round, seq, err)
		}
	}
}
