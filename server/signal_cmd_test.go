package server

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fakeProc builds a /proc-like tree: pid -> process name.
func fakeProc(root string, procs map[int]string) string {
	for pid, name := range procs {
		d := filepath.Join(root, strconv.Itoa(pid))
		if err := os.Mkdir(d, 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(filepath.Join(d, "comm"), []byte(name+"\n"), 0o644); err != nil {
			panic(err)
		}
	}
	// Entries that are not processes are ignored.
	os.Mkdir(filepath.Join(root, "sys"), 0o755)
	return root
}

func TestFindServerPID(t *testing.T) {
	root := fakeProc(t.TempDir(), map[int]string{10: "bash", 42: "nats-server", 7: "nats-server"})
	if _, err := findServerPID(root, 1); err == nil || err.Error() != "multiple nats-server processes running:\n7\n42" {
		t.Fatalf("several: %v", err)
	}
	pid, err := findServerPID(root, 7) // self is never a candidate
	if err != nil || pid != 42 {
		t.Fatalf("one: %d %v", pid, err)
	}
	root = fakeProc(t.TempDir(), map[int]string{10: "bash"})
	if _, err := findServerPID(root, 1); err == nil || err.Error() != "no nats-server processes running" {
		t.Fatalf("none: %v", err)
	}
	if _, err := findServerPID(filepath.Join(root, "missing"), 1); err == nil {
		t.Fatal("unreadable proc root must fail")
	}
}

func TestResolvePID(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pid")
	os.WriteFile(good, []byte("1234"), 0o644)
	bad := filepath.Join(dir, "bad.pid")
	os.WriteFile(bad, []byte("abc\n"), 0o644)
	if pid, err := resolvePID("99"); err != nil || pid != 99 {
		t.Fatalf("pid: %d %v", pid, err)
	}
	if pid, err := resolvePID(good); err != nil || pid != 1234 {
		t.Fatalf("pid file: %d %v", pid, err)
	}
	// The reference's words: the file content, or the argument, untrimmed.
	if _, err := resolvePID(bad); err == nil || err.Error() != "invalid pid: abc\n" {
		t.Fatalf("bad file: %q", err)
	}
	missing := filepath.Join(dir, "nofile.pid")
	if _, err := resolvePID(missing); err == nil || err.Error() != "invalid pid: "+missing {
		t.Fatalf("missing file: %v", err)
	}
	for _, p := range []string{"0", "-1"} {
		if _, err := resolvePID(p); err == nil {
			t.Fatalf("pid %s must be refused: kill(2) would signal a group", p)
		}
	}
}

func TestParseSignalArg(t *testing.T) {
	cmd, target, err := parseSignalArg("ldm=/var/run/n.pid")
	if err != nil || cmd != "ldm" || target != "/var/run/n.pid" {
		t.Fatalf("%q %q %v", cmd, target, err)
	}
	cmd, target, err = parseSignalArg("reload=")
	if err != nil || cmd != "reload" || target != "" {
		t.Fatalf("%q %q %v", cmd, target, err)
	}
	if _, _, err := parseSignalArg("=12"); err == nil {
		t.Fatal("empty command must fail")
	}
	if e := signalFailed("reopen", 5, os.ErrProcessDone).Error(); e != "\nsignal \"reopen\" 5: os: process already finished" {
		t.Fatalf("%q", e)
	}
}

func TestLameDuckPacing(t *testing.T) {
	cases := []struct {
		d        time.Duration
		n        int
		interval time.Duration
		batch    int
	}{
		{28 * time.Second, 3, time.Second, 1},       // capped
		{time.Second, 4, 250 * time.Millisecond, 1}, // spread evenly
		{time.Second, 10000, time.Millisecond, 10},  // batched
		{0, 5, 0, 5},            // all at once
		{-time.Second, 2, 0, 2}, // grace longer than duration
		{time.Minute, 0, 0, 1},
	}
	for _, c := range cases {
		i, b := lameDuckPacing(c.d, c.n)
		if i != c.interval || b != c.batch {
			t.Errorf("lameDuckPacing(%v, %d) = %v, %d; want %v, %d", c.d, c.n, i, b, c.interval, c.batch)
		}
		if c.n > 0 && b > 0 {
			// Whatever the pacing, the last client goes within d (or at once).
			total := time.Duration((c.n-1)/b) * i
			if c.d > 0 && total > c.d {
				t.Errorf("pacing for %d over %v takes %v", c.n, c.d, total)
			}
		}
	}
}

func TestSignalTargetsGlob(t *testing.T) {
	root := fakeProc(t.TempDir(), map[int]string{120: "nats-server", 125: "nats-server", 130: "nats-server", 121: "bash"})
	pids, err := signalTargets(root, 1, "12*")
	if err != nil || len(pids) != 2 || pids[0] != 120 || pids[1] != 125 {
		t.Fatalf("glob: %v %v", pids, err)
	}
	// No match is not an error, as with the reference.
	if pids, err := signalTargets(root, 1, "9*"); err != nil || len(pids) != 0 {
		t.Fatalf("no match: %v %v", pids, err)
	}
	// A malformed pattern is taken as a pid file name.
	if _, err := signalTargets(root, 1, "*["); err == nil || err.Error() != "invalid pid: *[" {
		t.Fatalf("bad pattern: %v", err)
	}
	if pids, err := signalTargets(root, 120, ""); err == nil {
		t.Fatalf("two others running must be refused, got %v", pids)
	}
}

func TestSendToAllJoinsFailures(t *testing.T) {
	err := sendToAll("ldm", []int{1, 2, 3}, func(pid int) error {
		if pid == 2 {
			return nil
		}
		return os.ErrPermission
	})
	want := "\nsignal \"ldm\" 1: permission denied\nsignal \"ldm\" 3: permission denied"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q want %q", err, want)
	}
	if err := sendToAll("ldm", nil, func(int) error { return os.ErrPermission }); err != nil {
		t.Fatal(err)
	}
}

// FuzzSignalArg feeds arbitrary -sl arguments to the parsers: they must
// never panic, and whatever they accept must be usable as it stands.
func FuzzSignalArg(f *testing.F) {
	for _, s := range []string{"reload", "ldm=12*", "stop=/var/run/n.pid", "quit=nats-a", "=", "reopen=*[", "term=-1", "ldm=0x10"} {
		f.Add(s)
	}
	root := fakeProc(f.TempDir(), map[int]string{120: "nats-server", 7: "bash"})
	f.Fuzz(func(t *testing.T, arg string) {
		if name, code, err := parseServiceSignal(arg); err == nil && (name == "" || code == 0) {
			t.Fatalf("%q accepted as service %q code %d", arg, name, code)
		}
		cmd, target, err := parseSignalArg(arg)
		if err != nil {
			return
		}
		if cmd == "" {
			t.Fatalf("%q: empty command accepted", arg)
		}
		if target == "" {
			return // would look at the real /proc: covered by TestFindServerPID
		}
		pids, err := signalTargets(root, 1, target)
		for _, p := range pids {
			if err == nil && p <= 0 {
				t.Fatalf("%q resolved to pid %d", arg, p)
			}
		}
	})
}

func TestResolvePIDNeverReadsDevices(t *testing.T) {
	done := make(chan error, 1)
	go func() { _, err := resolvePID("/dev/zero"); done <- err }()
	select {
	case err := <-done:
		if err == nil || err.Error() != "invalid pid: /dev/zero" {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading /dev/zero as a pid file")
	}
}
