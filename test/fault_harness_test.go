//go:build !windows

package test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The fault-injection harness: clusters of the built binary as processes,
// every route through a TCP proxy that can pass, drop, delay or cut
// (partitions), process faults (kill -9, SIGSTOP/SIGCONT, restart), damage
// to data files (bit flips, truncation), and a checker that publishes with
// acknowledgements and verifies that every acknowledged message is
// readable afterwards exactly once, in order and intact.
//
// NATS_SOAK=1 (make soak) lengthens every scenario.

// faultSoak tells whether the long form runs.
func faultSoak() bool { return os.Getenv("NATS_SOAK") != "" }

// faultScale is a duration or count for the bounded form, times 10 in soak.
func faultScale[T int | time.Duration](v T) T {
	if faultSoak() {
		return v * 10
	}
	return v
}

// proxyMode is what a proxy does with the bytes of its connections.
type proxyMode int

const (
	proxyPass proxyMode = iota // forward (after the delay, if any)
	proxyDrop                  // keep connections open, forward nothing until healed (a blackhole)
	proxyCut                   // close connections, refuse new ones
)

// faultProxy is a TCP proxy in front of one server's route port.
type faultProxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	delay time.Duration
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.l.Addr().String() }

// set changes the mode; cutting closes every open connection.
func (p *faultProxy) set(mode proxyMode, delay time.Duration) {
	p.mu.Lock()
	p.mode, p.delay = mode, delay
	var open []net.Conn
	if mode == proxyCut {
		for c := range p.conns {
			open = append(open, c)
		}
	}
	p.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

func (p *faultProxy) state() (proxyMode, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay
}

func (p *faultProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.conns == nil || p.mode == proxyCut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in, true) || !p.track(out, true) {
			in.Close()
			out.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst as the mode says; either side closing closes both.
func (p *faultProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		src.Close()
		dst.Close()
		p.track(src, false)
		p.track(dst, false)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			mode, delay := p.holdWhileDropped()
			if mode == proxyCut {
				return
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if mode == proxyPass {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// holdWhileDropped waits while the proxy blackholes (proxyDrop) and then
// returns its mode. Bytes read meanwhile are held, not discarded: a
// blackholed TCP path loses no bytes in the middle of a connection (they
// are retransmitted once it heals, or the connection dies), so a route's
// protocol stream resumes intact. A closed proxy stops holding (cut).
func (p *faultProxy) holdWhileDropped() (proxyMode, time.Duration) {
	for {
		mode, delay := p.state()
		if mode != proxyDrop {
			return mode, delay
		}
		p.mu.Lock()
		closed := p.conns == nil
		p.mu.Unlock()
		if closed {
			return proxyCut, 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *faultProxy) close() {
	p.l.Close()
	p.mu.Lock()
	open := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.conns = nil
	p.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	p.wg.Wait()
}

// faultNode is one server process of a faultCluster.
type faultNode struct {
	name                        string
	port, httpPort, clusterPort int
	conf, store                 string
	p                           *proc
	// logs keeps the output of earlier runs of this node.
	logs strings.Builder
}

// faultCluster is n servers of the built binary; the route between nodes
// i < j goes from i through proxies[i][j] to j's route port.
type faultCluster struct {
	t       *testing.T
	nodes   []*faultNode
	proxies map[[2]int]*faultProxy
	// lastStarted is the node started last, whose log a failed wait shows.
	lastStarted int
}

// startFaultCluster starts n servers and waits for a meta leader that
// every one of them knows.
func startFaultCluster(t *testing.T, n int) *faultCluster {
	t.Helper()
	c := newFaultCluster(t, n)
	for i := range c.nodes {
		c.start(i)
	}
	c.waitMeta(c.all())
	return c
}

// newFaultCluster writes the configs and starts the proxies of n servers,
// but not the servers.
func newFaultCluster(t *testing.T, n int) *faultCluster {
	t.Helper()
	dir := t.TempDir()
	c := &faultCluster{t: t, proxies: map[[2]int]*faultProxy{}}
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, &faultNode{name: fmt.Sprintf("f%d", i), port: freePort(t), httpPort: freePort(t),
			clusterPort: freePort(t), store: filepath.Join(dir, fmt.Sprintf("f%d", i))})
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			c.proxies[[2]int{i, j}] = newFaultProxy(t, fmt.Sprintf("127.0.0.1:%d", c.nodes[j].clusterPort))
		}
	}
	for i, nd := range c.nodes {
		var routes []string
		for j := i + 1; j < n; j++ {
			routes = append(routes, fmt.Sprintf("%q", "nats-route://"+c.proxies[[2]int{i, j}].addr()))
		}
		// advertise points nowhere: a server learns the others only
		// through the proxies, never by gossip around a partition.
		// Anonymous clients are user a of account APP; sys/sys is the
		// system account's (membership requests).
		conf := fmt.Sprintf(`server_name: %s
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
jetstream { store_dir: %q }
cluster { name: fault, listen: "127.0.0.1:%d", advertise: "127.0.0.1:1", routes: [%s] }
accounts { SYS { users: [{user: sys, password: sys}] }, APP { jetstream: enabled, users: [{user: a, password: a}] } }
system_account: SYS
no_auth_user: a
`, nd.name, nd.port, nd.httpPort, nd.store, nd.clusterPort, strings.Join(routes, ", "))
		nd.conf = filepath.Join(dir, nd.name+".conf")
		if err := os.WriteFile(nd.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *faultCluster) all() []int {
	out := make([]int, len(c.nodes))
	for i := range out {
		out[i] = i
	}
	return out
}

// start runs node i (again), keeping the log of its earlier run.
func (c *faultCluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	if nd.p != nil {
		nd.logs.WriteString(nd.p.output())
	}
	nd.p = startBinAt(c.t, serverBin, "-c", nd.conf)
	c.lastStarted = i
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(nd.p.output(), "Server is ready") {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready:\n%s", nd.name, nd.p.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// log is everything node i wrote, over all its runs.
func (c *faultCluster) log(i int) string {
	nd := c.nodes[i]
	return nd.logs.String() + nd.p.output()
}

// kill sends SIGKILL to node i and waits for it to exit.
func (c *faultCluster) kill(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	nd.p.cmd.Process.Signal(syscall.SIGKILL)
	nd.p.waitExit(10 * time.Second)
}

// pause and resume send SIGSTOP and SIGCONT to node i.
func (c *faultCluster) pause(i int)  { c.nodes[i].p.cmd.Process.Signal(syscall.SIGSTOP) }
func (c *faultCluster) resume(i int) { c.nodes[i].p.cmd.Process.Signal(syscall.SIGCONT) }

// isolate sets every proxy on node i's routes to mode (proxyPass heals).
func (c *faultCluster) isolate(i int, mode proxyMode, delay time.Duration) {
	for k, p := range c.proxies {
		if k[0] == i || k[1] == i {
			p.set(mode, delay)
		}
	}
}

// faultMeta is the part of /jsz the harness reads.
type faultMeta struct {
	Meta *struct {
		Leader string `json:"leader"`
		Size   int    `json:"cluster_size"`
	} `json:"meta_cluster"`
}

// meta reads node i's view of the meta group (nil if it does not answer).
func (c *faultCluster) meta(i int) *faultMeta {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", c.nodes[i].httpPort))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m faultMeta
	if json.Unmarshal(b, &m) != nil || m.Meta == nil {
		return nil
	}
	return &m
}

// waitMeta waits until nodes agree on a meta leader of a group of all
// the cluster's servers, and returns the leader's index.
func (c *faultCluster) waitMeta(nodes []int) int {
	c.t.Helper()
	leader := -1
	defer func() {
		if leader < 0 { // waitFor failed: say what each node saw
			for _, i := range nodes {
				if m := c.meta(i); m != nil {
					c.t.Logf("%s: meta leader %q, size %d", c.nodes[i].name, m.Meta.Leader, m.Meta.Size)
				}
			}
			c.t.Logf("last started node's log:\n%s", c.nodes[c.lastStarted].p.output())
		}
	}()
	waitFor(c.t, 30*time.Second, "a meta leader known to every node", func() bool {
		name := ""
		for _, i := range nodes {
			m := c.meta(i)
			if m == nil || m.Meta.Leader == "" || m.Meta.Size != len(c.nodes) || (name != "" && m.Meta.Leader != name) {
				return false
			}
			name = m.Meta.Leader
		}
		for i, nd := range c.nodes {
			if nd.name == name {
				leader = i
			}
		}
		return leader >= 0
	})
	return leader
}

// connect is a client of the nodes given (all if none) that reconnects
// for ever.
func (c *faultCluster) connect(nodes ...int) *nats.Conn {
	c.t.Helper()
	return c.connectAs(nil, nodes...)
}

// connectAs is connect with a user's credentials (nil: anonymous).
func (c *faultCluster) connectAs(user nats.Option, nodes ...int) *nats.Conn {
	c.t.Helper()
	if len(nodes) == 0 {
		nodes = c.all()
	}
	var urls []string
	for _, i := range nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].port))
	}
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond), nats.DontRandomize()}
	if user != nil {
		opts = append(opts, user)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// addStream creates a stream (retrying while the meta group elects) and
// returns the index of the node that leads it.
func (c *faultCluster) addStream(js nats.JetStreamContext, name string, replicas int) int {
	c.t.Helper()
	var si *nats.StreamInfo
	waitFor(c.t, 30*time.Second, "stream "+name+" created", func() bool {
		var err error
		si, err = js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Replicas: replicas})
		if err != nil && strings.Contains(err.Error(), "already in use") {
			si, err = js.StreamInfo(name)
		}
		return err == nil && si.Cluster != nil && si.Cluster.Leader != ""
	})
	return c.index(si.Cluster.Leader)
}

// index is the node named name.
func (c *faultCluster) index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	c.t.Fatalf("no node %q", name)
	return -1
}

// faultDataFiles lists a stream's message block files on node i.
func (c *faultCluster) dataFiles(i int, stream string) []string {
	files, _ := filepath.Glob(filepath.Join(c.nodes[i].store, "jetstream", "*", "streams", stream, "msgs", "*.blk"))
	return files
}

// flipBit flips one bit of the file at off.
func flipBit(t *testing.T, path string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// faultPayload is message i of a checker: its number and a checksum, so
// that a damaged message served is told from a good one.
func faultPayload(i int) []byte { return faultPayloadPadded(i, 64) }

// faultPayloadPadded is faultPayload with pad bytes of filler.
func faultPayloadPadded(i, pad int) []byte {
	body := fmt.Sprintf("msg-%08d-%s", i, strings.Repeat("x", pad))
	return []byte(fmt.Sprintf("%s-%08x", body, crc32.ChecksumIEEE([]byte(body))))
}

// parseFaultPayload returns a payload's number, or -1 if it is damaged.
func parseFaultPayload(b []byte) int {
	s := string(b)
	k := strings.LastIndexByte(s, '-')
	if k < 0 {
		return -1
	}
	var n int
	var sum uint32
	if _, err := fmt.Sscanf(s[k+1:], "%08x", &sum); err != nil || crc32.ChecksumIEEE([]byte(s[:k])) != sum {
		return -1
	}
	if _, err := fmt.Sscanf(s, "msg-%08d-", &n); err != nil {
		return -1
	}
	return n
}

// faultChecker publishes numbered messages with acknowledgements and
// remembers which were acknowledged, at which sequence.
type faultChecker struct {
	t       *testing.T
	js      nats.JetStreamContext
	stream  string
	mu      sync.Mutex
	acked   []int          // message numbers, in acknowledgement order
	seqOf   map[int]uint64 // acknowledged sequence of each
	failed  int
	lastErr error // of the last failed publish, for a failed wait
	pad     int   // filler bytes per payload (0: 64)
	next    int
	stop    chan struct{}
	stopped chan struct{}
}

func newFaultChecker(t *testing.T, nc *nats.Conn, stream string) *faultChecker {
	js, err := nc.JetStream(nats.MaxWait(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &faultChecker{t: t, js: js, stream: stream, seqOf: map[int]uint64{}}
}

// publish sends one message and records its acknowledgement.
func (fc *faultChecker) publish() bool {
	i := fc.next
	fc.next++
	ack, err := fc.js.Publish(fc.stream+".m", faultPayloadPadded(i, cmp.Or(fc.pad, 64)), nats.MsgId(fmt.Sprintf("%s-%d", fc.stream, i)),
		nats.AckWait(2*time.Second))
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if err != nil {
		fc.failed++
		fc.lastErr = err
		return false
	}
	fc.acked = append(fc.acked, i)
	fc.seqOf[i] = ack.Sequence
	return true
}

// publishN publishes n messages in turn.
func (fc *faultChecker) publishN(n int) {
	for k := 0; k < n; k++ {
		fc.publish()
	}
}

// start publishes in the background until halt.
func (fc *faultChecker) start() {
	fc.stop, fc.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fc.stopped)
		for {
			select {
			case <-fc.stop:
				return
			default:
			}
			// Paced, so that the check reads a bounded stream.
			pause := 2 * time.Millisecond
			if !fc.publish() {
				pause = 50 * time.Millisecond
			}
			select {
			case <-fc.stop:
				return
			case <-time.After(pause):
			}
		}
	}()
}

func (fc *faultChecker) halt() {
	close(fc.stop)
	<-fc.stopped
}

// forgetLost drops the acknowledgements of messages the stream no longer
// has (after damage a single copy could not survive), so that later checks
// count only new losses.
func (fc *faultChecker) forgetLost() {
	found := map[int]bool{}
	if si, err := fc.js.StreamInfo(fc.stream); err == nil {
		for seq := si.State.FirstSeq; seq <= si.State.LastSeq; seq++ {
			if m, err := fc.js.GetMsg(fc.stream, seq); err == nil {
				found[parseFaultPayload(m.Data)] = true
			}
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	keep := fc.acked[:0]
	for _, n := range fc.acked {
		if found[n] {
			keep = append(keep, n)
		}
	}
	fc.acked = keep
}

// ackedCount is how many publishes were acknowledged so far.
func (fc *faultChecker) ackedCount() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.acked)
}

// faultResult is what the checker found in the stream.
type faultResult struct {
	acknowledged, lost, duplicated, reordered, corrupt, unacked int
}

func (r faultResult) String() string {
	return fmt.Sprintf("acknowledged=%d lost=%d duplicated=%d reordered=%d corrupt-served=%d unacknowledged-present=%d",
		r.acknowledged, r.lost, r.duplicated, r.reordered, r.corrupt, r.unacked)
}

// verify reads the whole stream and compares it with the acknowledgements.
func (fc *faultChecker) verify(name string) faultResult {
	fc.t.Helper()
	var last uint64
	waitFor(fc.t, 30*time.Second, "stream info for the check", func() bool {
		si, err := fc.js.StreamInfo(fc.stream)
		if err == nil {
			last = si.State.LastSeq
		}
		return err == nil
	})
	found := map[int][]uint64{}
	var res faultResult
	for seq := uint64(1); seq <= last; seq++ {
		var m *nats.RawStreamMsg
		waitFor(fc.t, 20*time.Second, fmt.Sprintf("message %d", seq), func() bool {
			var err error
			m, err = fc.js.GetMsg(fc.stream, seq)
			return err == nil || strings.Contains(err.Error(), "not found")
		})
		if m == nil {
			continue
		}
		n := parseFaultPayload(m.Data)
		if n < 0 {
			res.corrupt++
			continue
		}
		found[n] = append(found[n], seq)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	res.acknowledged = len(fc.acked)
	var prev uint64
	acked := map[int]bool{}
	for _, n := range fc.acked {
		acked[n] = true
		seqs := found[n]
		switch {
		case len(seqs) == 0:
			res.lost++
			continue
		case len(seqs) > 1:
			res.duplicated++
		}
		if seqs[0] <= prev || seqs[0] != fc.seqOf[n] {
			res.reordered++
		}
		prev = seqs[0]
	}
	for n := range found {
		if !acked[n] {
			res.unacked++
		}
	}
	fmt.Printf("fault %s: %s: %v (publishes failed: %d)\n", fc.t.Name(), name, res, fc.failed)
	return res
}
