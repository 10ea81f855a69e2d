//go:build !windows

package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Tests of the binary in production use: log files, rotation, reopen,
// syslog, -sl, signals and lame duck mode.

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func waitFileContains(t *testing.T, name, what string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%q in %s", what, name), func() bool {
		return strings.Contains(readFile(t, name), what)
	})
}

// rawSession connects, reads INFO and sends the given protocol.
func rawSession(t *testing.T, port int, proto string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("INFO: %q %v", line, err)
	}
	io.WriteString(c, proto)
	return c
}

var fileLogLine = regexp.MustCompile(`^\[(\d+)\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} \[(INF|WRN|ERR|FTL|DBG|TRC)\] `)

func TestBinaryLogFileLevelsAndRedaction(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	logFile := filepath.Join(t.TempDir(), "ns.log")
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-l", logFile, "-DV", "--max_traced_msg_len", "5")
	waitFileContains(t, logFile, "Server is ready")
	if out := p.output(); out != "" {
		t.Fatalf("with -l nothing goes to stderr, got %q", out)
	}
	rawSession(t, port, `CONNECT {"verbose":false,"headers":true,"user":"u","pass":"s3cret","auth_token":"t0ken","sig":"S1G","jwt":"eyJ0.J1WT","nkey":"UNK3Y"}`+
		"\r\nSUB a 1\r\nPUB a 11\r\nhello world\r\nHPUB a r 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPUB a 0\r\n\r\nPING\r\n")
	waitFileContains(t, logFile, `<<- [PING]`)
	log := readFile(t, logFile)
	for _, secret := range []string{"s3cret", "t0ken", "S1G", "J1WT", "UNK3Y"} {
		if strings.Contains(log, secret) {
			t.Fatalf("secret %q in the trace:\n%s", secret, log)
		}
	}
	for _, want := range []string{
		`<<- [CONNECT {"verbose":false,"headers":true,"user":"u","pass":"[REDACTED]","auth_token":"[REDACTED]","sig":"[REDACTED]","jwt":"[REDACTED]","nkey":"[REDACTED]"}]`,
		`<<- [SUB a 1]`, `<<- [PUB a 11]`, `<<- MSG_PAYLOAD: ["hello..."]`,
		`->> [MSG a 1 11]`, `->> MSG_PAYLOAD: ["hello..."]`,
		`<<- [HPUB a r 12 17]`, `->> [HMSG a 1 r 12 17]`, `->> MSG_PAYLOAD: ["NATS/..."]`, `->> [MSG a 1 0]`,
		"[DBG] 127.0.0.1:", " - Client connection created", "[INF] Server is ready",
	} {
		if !strings.Contains(log, want) {
			t.Fatalf("missing %q in:\n%s", want, log)
		}
	}
	if strings.Contains(log, `MSG_PAYLOAD: [""]`) {
		t.Fatalf("empty body traced:\n%s", log)
	}
	levels := map[string]bool{}
	pid := strconv.Itoa(p.cmd.Process.Pid)
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		m := fileLogLine.FindStringSubmatch(l)
		if m == nil || m[1] != pid {
			t.Fatalf("line not in the reference format for pid %s: %q", pid, l)
		}
		levels[m[2]] = true
	}
	if !levels["INF"] || !levels["DBG"] || !levels["TRC"] {
		t.Fatalf("levels seen: %v", levels)
	}
}

func TestBinaryLogNoTimeAndNoDebug(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	logFile := filepath.Join(t.TempDir(), "ns.log")
	startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-l", logFile, "-T=false")
	waitFileContains(t, logFile, "Server is ready")
	rawSession(t, port, "CONNECT {\"verbose\":false}\r\nPING\r\n").Close()
	// Without -D nothing of the connection is logged; without -T no time.
	log := readFile(t, logFile)
	noTime := regexp.MustCompile(`^\[\d+\] \[INF\] `)
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if !noTime.MatchString(l) {
			t.Fatalf("-T=false line: %q", l)
		}
	}
	if strings.Contains(log, "[DBG]") || strings.Contains(log, "[TRC]") {
		t.Fatalf("debug or trace without -D/-V:\n%s", log)
	}
}

func TestBinaryLogRotationBySize(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "ns.log")
	startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-l", logFile, "-V", "--log_size_limit", "2000")
	waitFileContains(t, logFile, "Server is ready")
	c := rawSession(t, port, "CONNECT {\"verbose\":false}\r\n")
	// Every PING is a trace line of about 70 bytes: 200 of them are ~14 kB.
	io.WriteString(c, strings.Repeat("PING\r\n", 200))
	backups := func() []string {
		m, _ := filepath.Glob(logFile + ".*")
		return m
	}
	waitFor(t, 10*time.Second, "several rotations", func() bool { return len(backups()) >= 4 })
	backupName := regexp.MustCompile(`\.\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{9}$`)
	for _, b := range backups() {
		if !backupName.MatchString(b) {
			t.Fatalf("backup name %q", b)
		}
		fi, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		// Rotation happens once a write passes the limit: one line over.
		if fi.Size() < 2000 || fi.Size() > 2000+200 {
			t.Fatalf("backup %s has %d bytes for a 2000 byte limit", b, fi.Size())
		}
	}
	waitFileContains(t, logFile, "Rotated log, backup saved as")
}

func TestBinaryReopenAfterRename(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "ns.log")
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-l", logFile)
	waitFileContains(t, logFile, "Server is ready")
	rotated := logFile + ".1"
	if err := os.Rename(logFile, rotated); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	// The signal is logged to the renamed file, then the new file starts.
	waitFileContains(t, logFile, "[INF] File log re-opened")
	waitFileContains(t, rotated, `Trapped "user defined signal 1" signal`)
	if strings.Contains(readFile(t, logFile), "Server is ready") {
		t.Fatal("old lines in the reopened file")
	}
	// The server keeps running and logging to the new file.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	waitFileContains(t, logFile, "Server Exiting..")
}

func TestBinaryReopenWithoutLogFile(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	p.waitOutput("Server is ready")
	p.cmd.Process.Signal(syscall.SIGUSR1)
	p.waitOutput("[INF] File log re-open ignored, not a file logger")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitOutput(`Trapped "hangup" signal`)
	p.waitOutput("[ERR] Failed to reload server configuration: ")
	// Neither signal stops the server.
	rawSession(t, port, "PING\r\n")
}

func TestBinaryRemoteSyslogUDP(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-D", "-r", "udp://"+pc.LocalAddr().String())
	pid := p.cmd.Process.Pid
	var got []string
	buf := make([]byte, 64*1024)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	readUntil := func(what string) {
		for !strings.Contains(strings.Join(got, "\n"), what) {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("syslog read: %v, got %q", err, got)
			}
			got = append(got, string(buf[:n]))
		}
	}
	readUntil("Server is ready")
	rawSession(t, port, "PING\r\n")
	readUntil("Client connection created")
	// <PRI>timestamp host tag[pid]: message, as the reference sends it: INF
	// is severity notice (5), DBG debug (7), no facility bits.
	rfc := regexp.MustCompile(`^<(\d+)>\S+ \S+ nats-server\[` + strconv.Itoa(pid) + `\]: `)
	var sawDebug bool
	for _, m := range got {
		sm := rfc.FindStringSubmatch(m)
		if sm == nil {
			t.Fatalf("syslog message %q", m)
		}
		if sm[1] == "7" {
			sawDebug = true
		}
	}
	if !strings.HasPrefix(got[0], "<5>") || !strings.Contains(got[0], "Starting nats-server") {
		t.Fatalf("first message %q", got[0])
	}
	if !sawDebug {
		t.Fatalf("no debug message with -D: %q", got)
	}
	if p.output() != "" {
		t.Fatalf("with -r nothing goes to stderr: %q", p.output())
	}
}

func TestBinarySignalByPid(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	logFile := filepath.Join(t.TempDir(), "ns.log")
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-l", logFile)
	waitFileContains(t, logFile, "Server is ready")
	pid := strconv.Itoa(p.cmd.Process.Pid)
	if out, code := runBin(t, "-sl", "reopen="+pid); code != 0 || out != "" {
		t.Fatalf("-sl reopen=pid: %d %q", code, out)
	}
	waitFileContains(t, logFile, "File log re-opened")
	// A glob reaches every nats-server whose pid matches.
	if out, code := runBin(t, "-sl", "term="+pid+"*"); code != 0 {
		t.Fatalf("-sl term=glob: %d %q", code, out)
	}
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	waitFileContains(t, logFile, `Trapped "terminated" signal`)
	// The process is gone now: the reference's words for a failed kill.
	out, code := runBin(t, "-sl", "reopen="+pid)
	if code != 1 || out != "nats-server: \nsignal \"reopen\" "+pid+": no such process\n" {
		t.Fatalf("dead pid: %d %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.pid")
	os.WriteFile(bad, []byte("abc\n"), 0o644)
	if out, code := runBin(t, "-sl", "reopen="+bad); code != 1 || out != "nats-server: invalid pid: abc\n\n" {
		t.Fatalf("bad pid file: %d %q", code, out)
	}
}

func TestBinarySignalStopKills(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	pidFile := filepath.Join(t.TempDir(), "ns.pid")
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-P", pidFile)
	p.waitOutput("Server is ready")
	if out, code := runBin(t, "-sl", "stop="+pidFile); code != 0 {
		t.Fatalf("-sl stop: %d %q", code, out)
	}
	p.waitExit(10 * time.Second)
	if ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("stop must kill: %v", p.cmd.ProcessState)
	}
}

// inPidNamespace runs a shell script in a new pid namespace with its own
// /proc, where the only nats-server processes are the script's: -sl without
// a pid can be tested without seeing (or signalling) anyone else's servers.
func inPidNamespace(t *testing.T, script string) (string, int) {
	t.Helper()
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "BIN="+serverBin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	return string(out), code
}

func TestBinarySignalWithoutPid(t *testing.T) {
	t.Parallel()
	out, code := inPidNamespace(t, `"$BIN" -sl reload`)
	if code != 1 || out != "nats-server: no nats-server processes running\n" {
		t.Fatalf("none: %d %q", code, out)
	}
	dir := t.TempDir()
	p1, p2 := freePort(t), freePort(t)
	// One server: -sl quit finds and stops it. Two: refused, both listed.
	script := fmt.Sprintf(`
ready() { i=0; until grep -q "Server is ready" "$1" 2>/dev/null; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; }
"$BIN" -a 127.0.0.1 -p %d -l %s/a.log & a=$!
ready %s/a.log
"$BIN" -sl quit; echo "quit=$?"
wait $a; echo "a exited $?"
"$BIN" -a 127.0.0.1 -p %d -l %s/b.log & b=$!
"$BIN" -a 127.0.0.1 -p %d -l %s/c.log & c=$!
ready %s/b.log; ready %s/c.log
"$BIN" -sl reopen; echo "reopen=$?"
echo "pids $b $c"
kill $b $c; wait
`, p1, dir, dir, p2, dir, p1, dir, dir, dir)
	out, code = inPidNamespace(t, script)
	if code != 0 {
		t.Fatalf("script: %d %s", code, out)
	}
	if !strings.Contains(out, "quit=0\na exited 0\n") || !strings.Contains(readFile(t, dir+"/a.log"), `Trapped "interrupt" signal`) {
		t.Fatalf("one server:\n%s", out)
	}
	m := regexp.MustCompile(`pids (\d+) (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	want := fmt.Sprintf("nats-server: multiple nats-server processes running:\n%s\n%s\nreopen=1\n", m[1], m[2])
	if !strings.Contains(out, want) {
		t.Fatalf("several servers: want %q in\n%s", want, out)
	}
}

func TestBinarySIGQUITStopsWithDump(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	p.waitOutput("Server is ready")
	p.cmd.Process.Signal(syscall.SIGQUIT)
	// As the reference: Go's default, a goroutine dump and exit status 2.
	if code := p.waitExit(10 * time.Second); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(p.output(), "SIGQUIT: quit") || !strings.Contains(p.output(), "goroutine ") {
		t.Fatalf("output:\n%s", p.output())
	}
}

func TestBinarySIGTERMWithClients(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	p.waitOutput("Server is ready")
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	const n = 20
	closed := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		nc, err := nats.Connect(url, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { closed <- struct{}{} }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Subscribe("x", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		// Traffic in flight when the signal arrives.
		for j := 0; j < 100; j++ {
			nc.Publish("x", []byte("payload"))
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	for i := 0; i < n; i++ {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d clients saw the close", i, n)
		}
	}
	if out := p.output(); !strings.Contains(out, "Server Exiting..") || strings.Contains(out, "[ERR]") {
		t.Fatalf("output:\n%s", out)
	}
}

// TestBinaryLameDuck sets short lame-duck periods in a config file.
func TestBinaryLameDuck(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	cfg := writeConf(t, t.TempDir(), "ldm.conf", fmt.Sprintf(
		"listen: 127.0.0.1:%d\nlame_duck_grace_period: \"1s\"\nlame_duck_duration: \"3s\"\n", port))
	p := startBin(t, "-c", cfg)
	p.waitOutput("Server is ready")
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	const n = 3
	ldm := make(chan struct{}, n)
	closed := make(chan time.Time, n)
	for i := 0; i < n; i++ {
		nc, err := nats.Connect(url, nats.NoReconnect(),
			nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }),
			nats.ClosedHandler(func(*nats.Conn) { closed <- time.Now() }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
	}
	// A raw client that did not announce protocol 1 gets no async INFO.
	raw := rawSession(t, port, "CONNECT {\"verbose\":false}\r\n")
	start := time.Now()
	if out, code := runBin(t, "-sl", "ldm="+strconv.Itoa(p.cmd.Process.Pid)); code != 0 {
		t.Fatalf("-sl ldm: %d %q", code, out)
	}
	p.waitOutput("[INF] Entering lame duck mode, stop accepting new clients")
	// A second request changes nothing (it must not end the process early).
	p.cmd.Process.Signal(syscall.SIGUSR2)
	for i := 0; i < n; i++ {
		select {
		case <-ldm:
		case <-time.After(5 * time.Second):
			t.Fatal("no INFO with ldm:true")
		}
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatal("new client accepted in lame duck mode")
	}
	// Grace period 1s, then the clients spread over the remaining 2s.
	for i := 0; i < n; i++ {
		select {
		case at := <-closed:
			if d := at.Sub(start); d < 900*time.Millisecond {
				t.Fatalf("client closed after %v, before the grace period ended", d)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d clients closed", i, n)
		}
	}
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, _ := io.ReadAll(raw)
	if strings.Contains(string(rest), "INFO") {
		t.Fatalf("protocol 0 client got %q", rest)
	}
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("lame duck took %v", d)
	}
	out := p.output()
	for _, want := range []string{`Trapped "user defined signal 2" signal`, "[INF] Closing existing clients", "Initiating Shutdown...", "Server Exiting.."} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in:\n%s", want, out)
		}
	}
}
