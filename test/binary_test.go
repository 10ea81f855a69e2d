package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// serverBin is the nats-server binary built once for this package's tests.
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natsbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "nats-server")
	cmd := exec.Command("go", "build", "-o", serverBin, "..")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building nats-server:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running server binary with its combined output captured.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startBin runs the binary; the process is killed by pid at test end if it
// is still running.
func startBin(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBinAt(t, serverBin, args...)
}

// startBinAt runs the server binary bin (ours or the reference's).
func startBinAt(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) waitOutput(what string) {
	p.t.Helper()
	waitFor(p.t, 10*time.Second, "log line "+what, func() bool { return strings.Contains(p.output(), what) })
}

func (p *proc) waitExit(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("process did not exit; output:\n%s", p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func runBin(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(serverBin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestBinaryVersionAndHelp(t *testing.T) {
	out, code := runBin(t, "-v")
	if code != 0 || out != "nats-server: v2.15.2\n" {
		t.Fatalf("-v: %d %q", code, out)
	}
	out, code = runBin(t, "-h")
	if code != 0 || !strings.Contains(out, "Usage: nats-server [options]") || !strings.Contains(out, "--ports_file_dir") {
		t.Fatalf("-h: %d %q", code, out)
	}
	out, code = runBin(t, "--help_tls")
	if code != 0 || !strings.Contains(out, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") {
		t.Fatalf("--help_tls: %d %q", code, out)
	}
}

func TestBinaryBadFlag(t *testing.T) {
	out, code := runBin(t, "--bogus")
	if code == 0 || !strings.Contains(out, "flag provided but not defined: -bogus") || !strings.Contains(out, "Usage: nats-server") {
		t.Fatalf("bad flag: %d %q", code, out)
	}
	out, code = runBin(t, "-p", "abc")
	if code == 0 || !strings.Contains(out, `invalid value "abc" for flag -p`) {
		t.Fatalf("bad value: %d %q", code, out)
	}
	out, code = runBin(t, "extra")
	if code == 0 || !strings.Contains(out, `unrecognized command: "extra"`) {
		t.Fatalf("extra arg: %d %q", code, out)
	}
}

var logLine = regexp.MustCompile(`^\[\d+\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} \[(INF|WRN|ERR|DBG|TRC)\] `)

func TestBinaryStartServeAndTerm(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "ns.pid")
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-n", "bin-test", "-P", pidFile, "--ports_file_dir", dir)
	p.waitOutput("Server is ready")
	out := p.output()
	for _, want := range []string{"[INF] Starting nats-server", "[INF]   Version:  2.15.2", "[INF]   Name:     bin-test",
		fmt.Sprintf("[INF] Listening for client connections on 127.0.0.1:%d", port)} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !logLine.MatchString(l) {
			t.Fatalf("log line not in the reference format: %q", l)
		}
	}
	pid, _ := os.ReadFile(pidFile)
	if string(pid) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("pid file %q, pid %d", pid, p.cmd.Process.Pid)
	}
	portsFile := filepath.Join(dir, fmt.Sprintf("nats-server_%d.ports", p.cmd.Process.Pid))
	b, err := os.ReadFile(portsFile)
	if err != nil {
		t.Fatal(err)
	}
	var ports struct{ Nats []string }
	json.Unmarshal(b, &ports)
	if len(ports.Nats) != 1 || ports.Nats[0] != fmt.Sprintf("nats://127.0.0.1:%d", port) {
		t.Fatalf("ports file %s", b)
	}

	// A connected client must see a clean close when the server stops.
	closed := make(chan struct{})
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if info := nc.ConnectedServerName(); info != "bin-test" {
		t.Fatalf("server name %q", info)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed")
	}
	for _, want := range []string{`Trapped "terminated" signal`, "Initiating Shutdown...", "Server Exiting.."} {
		if !strings.Contains(p.output(), want) {
			t.Fatalf("missing %q in:\n%s", want, p.output())
		}
	}
	if _, err := os.Stat(portsFile); !os.IsNotExist(err) {
		t.Fatalf("ports file should be removed on exit: %v", err)
	}
}

func TestBinarySIGINT(t *testing.T) {
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	p.waitOutput("Server is ready")
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(p.output(), `Trapped "interrupt" signal`) {
		t.Fatalf("output:\n%s", p.output())
	}
}

func TestBinarySignalByPidFile(t *testing.T) {
	port := freePort(t)
	pidFile := filepath.Join(t.TempDir(), "ns.pid")
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-P", pidFile)
	p.waitOutput("Server is ready")
	out, code := runBin(t, "-sl", "quit="+pidFile)
	if code != 0 {
		t.Fatalf("-sl quit: %d %s", code, out)
	}
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	out, code = runBin(t, "-sl", "bogus=1")
	if code == 0 || !strings.Contains(out, `unknown signal "bogus"`) {
		t.Fatalf("bad signal: %d %q", code, out)
	}
}

func TestBinaryPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	if code := p.waitExit(10 * time.Second); code == 0 {
		t.Fatal("server should fail when the port is taken")
	}
	if !strings.Contains(p.output(), "[FTL]") || !strings.Contains(p.output(), "address already in use") {
		t.Fatalf("output:\n%s", p.output())
	}
}

func TestBinaryTelnetStyleSession(t *testing.T) {
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	p.waitOutput("Server is ready")
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "INFO {") {
		t.Fatalf("INFO: %q", line)
	}
	// What a person types in telnet: verbose by default, bare ops.
	io.WriteString(c, "sub greet 1\r\npub greet 5\r\nhello\r\nping\r\n")
	var got []string
	for len(got) < 5 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v after %q", err, got)
		}
		got = append(got, strings.TrimSpace(l))
	}
	want := []string{"+OK", "+OK", "MSG greet 1 5", "hello", "PONG"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q want %q", got, want)
	}
}
