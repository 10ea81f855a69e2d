package logger

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func logAll(l *Logger) {
	l.Noticef("notice %d", 1)
	l.Warnf("warn %s", "two")
	l.Errorf("error %v", 3)
	l.Debugf("debug %d", 4)
	l.Tracef("trace %d", 5)
}

func TestFileLineFormat(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	ts := `\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} `
	cases := []struct {
		name            string
		time, pid       bool
		debug, trace    bool
		prefix          string
		wantDbg, wantTr bool
	}{
		{"time+pid", true, true, true, true, `\[` + pid + `\] ` + ts, true, true},
		{"time only", true, false, false, false, ts, false, false},
		{"pid only", false, true, true, false, `\[` + pid + `\] `, true, false},
		{"bare", false, false, false, true, ``, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nats.log")
			l, err := NewFileLogger(path, c.time, c.debug, c.trace, c.pid)
			if err != nil {
				t.Fatal(err)
			}
			logAll(l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			want := []string{`\[INF\] notice 1`, `\[WRN\] warn two`, `\[ERR\] error 3`}
			if c.wantDbg {
				want = append(want, `\[DBG\] debug 4`)
			}
			if c.wantTr {
				want = append(want, `\[TRC\] trace 5`)
			}
			lines := readLines(t, path)
			if len(lines) != len(want) {
				t.Fatalf("got %d lines %q, want %d", len(lines), lines, len(want))
			}
			for i, w := range want {
				re := regexp.MustCompile(`^` + c.prefix + w + `$`)
				if !re.MatchString(lines[i]) {
					t.Errorf("line %d = %q, want match %s", i, lines[i], re)
				}
			}
		})
	}
}

func TestFileModeAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nats.log")
	for i := 0; i < 2; i++ {
		l, err := NewFileLogger(path, false, false, false, false)
		if err != nil {
			t.Fatal(err)
		}
		l.Noticef("run %d", i)
		l.Close()
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0] != "[INF] run 0" || lines[1] != "[INF] run 1" {
		t.Fatalf("file not appended to: %q", lines)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Windows has no Unix permission bits to compare.
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestTrailingNewlineNotDoubled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nats.log")
	l, err := NewFileLogger(path, false, false, false, false)
	if err != nil {
		t.Fatal(err)
	}
	l.Noticef("has newline\n")
	l.Noticef("")
	l.Close()
	data, _ := os.ReadFile(path)
	if string(data) != "[INF] has newline\n[INF] \n" {
		t.Fatalf("got %q", data)
	}
}

func TestLogUTC(t *testing.T) {
	loc := time.FixedZone("far", 11*3600)
	old := time.Local
	time.Local = loc
	defer func() { time.Local = old }()

	dir := t.TempDir()
	stamp := func(opts ...Option) time.Time {
		path := filepath.Join(dir, fmt.Sprint(len(opts), ".log"))
		l, err := NewFileLogger(path, true, false, false, false, opts...)
		if err != nil {
			t.Fatal(err)
		}
		l.Noticef("x")
		l.Close()
		line := readLines(t, path)[0]
		ts, err := time.ParseInLocation(timeLayout, line[:len(timeLayout)], time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	now := time.Now().UTC()
	utc := stamp(LogUTC(true))
	local := stamp()
	if d := utc.Sub(now); d < -time.Minute || d > time.Minute {
		t.Fatalf("UTC stamp %v far from now %v", utc, now)
	}
	if d := local.Sub(utc); d < 10*time.Hour || d > 12*time.Hour {
		t.Fatalf("local stamp %v not 11h ahead of UTC %v", local, utc)
	}
}

func TestStdLoggerPlainWhenNotTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = f
	l := NewStdLogger(false, true, false, true, true)
	os.Stderr = old
	logAll(l)
	l.Close()
	f.Close()
	lines := readLines(t, f.Name())
	p := "[" + strconv.Itoa(os.Getpid()) + "] "
	want := []string{p + "[INF] notice 1", p + "[WRN] warn two", p + "[ERR] error 3", p + "[DBG] debug 4"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", lines, want)
	}
}

// countingStringer records whether anything formatted it.
type countingStringer struct{ calls int }

func (c *countingStringer) String() string { c.calls++; return fmt.Sprint(c.calls) }

func TestDisabledDebugTraceDoNotFormatOrAllocate(t *testing.T) {
	l := NewStdLogger(true, false, false, false, true)
	cs := &countingStringer{}
	allocs := testing.AllocsPerRun(1000, func() {
		l.Debugf("client %v sent %d bytes on %s", cs, 42, "subject")
		l.Tracef("<<- [%s %d] %v", "PUB", 7, cs)
	})
	if allocs != 0 {
		t.Fatalf("disabled Debugf/Tracef allocated %.1f times per call", allocs)
	}
	if cs.calls != 0 {
		t.Fatalf("disabled Debugf/Tracef formatted their arguments %d times", cs.calls)
	}
}

func TestEnabledFileLoggingAllocs(t *testing.T) {
	l, err := NewFileLogger(filepath.Join(t.TempDir(), "a.log"), true, true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	allocs := testing.AllocsPerRun(1000, func() { l.Tracef("<<- [%s %d]", "PUB", 7) })
	limit := 0.0
	if raceEnabled {
		limit = 3
	}
	if allocs > limit {
		t.Fatalf("enabled Tracef allocated %.1f times per call", allocs)
	}
}

func TestNewFileLoggerErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewFileLogger(filepath.Join(dir, "missing", "x.log"), true, false, false, false); err == nil {
		t.Fatal("expected error for a file in a missing directory")
	}
	if _, err := NewFileLogger(filepath.Join(dir, "x.log"), true, false, false, false, MaxNumFiles(-1)); err == nil {
		t.Fatal("expected error for negative MaxNumFiles")
	}
}

func TestCloseThenLogIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, err := NewFileLogger(path, false, false, false, false)
	if err != nil {
		t.Fatal(err)
	}
	l.Noticef("before")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Noticef("after")
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen after Close should fail")
	}
	if got := readLines(t, path); len(got) != 1 || got[0] != "[INF] before" {
		t.Fatalf("got %q", got)
	}
}

func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.log")
	l, err := NewFileLogger(path, false, false, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Noticef("first")
	moved := filepath.Join(dir, "nats.log.1")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	l.Noticef("still to the renamed file")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Noticef("second")
	if got := strings.Join(readLines(t, moved), "|"); got != "[INF] first|[INF] still to the renamed file" {
		t.Fatalf("renamed file holds %q", got)
	}
	if got := strings.Join(readLines(t, path), "|"); got != "[INF] second" {
		t.Fatalf("reopened file holds %q", got)
	}
}

func TestReopenNonFileLoggerIsNoop(t *testing.T) {
	if err := NewStdLogger(true, false, false, false, false).Reopen(); err != nil {
		t.Fatal(err)
	}
}

// TestFatalfExits re-runs the test binary so os.Exit does not end this one.
func TestFatalfExits(t *testing.T) {
	if path := os.Getenv("LOGGER_FATAL_FILE"); path != "" {
		l, err := NewFileLogger(path, false, false, false, false)
		if err != nil {
			os.Exit(3)
		}
		l.Fatalf("cannot go on: %s", "reason")
		os.Exit(4) // unreachable if Fatalf exits
	}
	path := filepath.Join(t.TempDir(), "fatal.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFatalfExits$")
	cmd.Env = append(os.Environ(), "LOGGER_FATAL_FILE="+path)
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v", err)
	}
	if got := readLines(t, path); len(got) != 1 || got[0] != "[FTL] cannot go on: reason" {
		t.Fatalf("got %q", got)
	}
}

func TestConcurrentLogging(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	l, err := NewFileLogger(path, true, true, true, true, SizeLimit(4096))
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				switch i % 3 {
				case 0:
					l.Noticef("w%d line %d", w, i)
				case 1:
					l.Debugf("w%d line %d", w, i)
				default:
					l.Tracef("w%d line %d", w, i)
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	re := regexp.MustCompile(`^\[\d+\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} \[(INF|DBG|TRC)\] (w\d+ line \d+|Rotated log, backup saved as ".*")$`)
	seen := map[string]bool{}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		for _, line := range readLines(t, f) {
			m := re.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s: malformed line %q", f, line)
			}
			if strings.HasPrefix(m[2], "w") {
				if seen[m[2]] {
					t.Fatalf("duplicate line %q", line)
				}
				seen[m[2]] = true
			}
		}
	}
	if len(seen) != workers*per {
		t.Fatalf("found %d distinct lines, want %d", len(seen), workers*per)
	}
	if len(files) < 3 {
		t.Fatalf("expected several rotated files, got %d", len(files))
	}
}
