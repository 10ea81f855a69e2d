//go:build !windows

package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// faultReplicaCounts are the replica counts the stream scenarios run
// with, each as a subtest (R1, R3): a single copy and a replicated stream.
// NATS_FAULT_REPLICAS=n runs only Rn.
func faultReplicaCounts() []int {
	if n, err := strconv.Atoi(os.Getenv("NATS_FAULT_REPLICAS")); err == nil && n > 0 {
		return []int{n}
	}
	return []int{1, 3}
}

// forReplicas runs scenario once per replica count, in parallel subtests
// (a cluster test mostly waits: elections, settling).
func forReplicas(t *testing.T, scenario func(t *testing.T, replicas int)) {
	t.Parallel()
	for _, n := range faultReplicaCounts() {
		t.Run("R"+strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			scenario(t, n)
		})
	}
}

// others is every node of c but skip.
func (c *faultCluster) others(skip ...int) []int {
	var out []int
	for _, i := range c.all() {
		if !slices.Contains(skip, i) {
			out = append(out, i)
		}
	}
	return out
}

// waitAcked waits until the checker has n more acknowledgements than at
// the call.
func (fc *faultChecker) waitMore(n int) {
	fc.t.Helper()
	want := fc.ackedCount() + n
	for deadline := time.Now().Add(30 * time.Second); fc.ackedCount() < want; {
		if time.Now().After(deadline) {
			fc.mu.Lock()
			err := fc.lastErr
			fc.mu.Unlock()
			fc.t.Fatalf("timed out waiting for %d more acknowledged publishes (last error: %v)", n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustBeIntact fails unless every acknowledged message was found once, in
// order, undamaged (lost allowed up to maxLost: single-copy data a fault
// destroyed).
func mustBeIntact(t *testing.T, r faultResult, maxLost int) {
	t.Helper()
	if r.lost > maxLost || r.duplicated > 0 || r.reordered > 0 || r.corrupt > 0 || r.acknowledged == 0 {
		t.Fatalf("checker: %v", r)
	}
}

// The server of a stream paused (SIGSTOP) and killed (kill -9) while a
// client publishes: every acknowledged message is there afterwards.
func TestFaultStreamServerPauseAndKill(t *testing.T) {
	forReplicas(t, func(t *testing.T, replicas int) { faultStreamServerPauseAndKill(t, 3, replicas) })
}

func faultStreamServerPauseAndKill(t *testing.T, n, replicas int) {
	c := startFaultCluster(t, n)
	js, _ := c.connect().JetStream()
	host := c.addStream(js, "PK", replicas)
	fc := newFaultChecker(t, c.connect(c.others(host)...), "PK")
	fc.start()
	for round := 0; round < faultScale(1); round++ {
		fc.waitMore(50)
		c.pause(host)
		time.Sleep(faultScale(time.Second)) // the pause being injected
		c.resume(host)
		fc.waitMore(50)
		c.kill(host)
		c.start(host)
	}
	fc.waitMore(50)
	fc.halt()
	mustBeIntact(t, fc.verify("stream server pause+kill"), 0)
}

// The meta leader killed, then cut off by a partition (and slowed and
// blackholed before that): the others elect a leader and go on, a stream
// is created in the majority, and nothing acknowledged is lost.
func TestFaultMetaLeaderKillAndPartition(t *testing.T) {
	forReplicas(t, faultMetaLeaderKillAndPartition)
}

func faultMetaLeaderKillAndPartition(t *testing.T, replicas int) {
	c := startFaultCluster(t, 3)
	nc := c.connect()
	js, _ := nc.JetStream()
	host := c.addStream(js, "MP", replicas)
	fc := newFaultChecker(t, c.connect(host), "MP")
	fc.start()
	fc.waitMore(30)

	leader := c.waitMeta(c.all())
	c.kill(leader)
	c.waitMetaOf(c.others(leader))
	c.start(leader)
	leader = c.waitMeta(c.all())
	fc.waitMore(30)

	// Slow routes, then a blackholed leader, then healed.
	for _, p := range c.proxies {
		p.set(proxyPass, 20*time.Millisecond)
	}
	fc.waitMore(20)
	c.isolate(leader, proxyDrop, 0)
	time.Sleep(faultScale(2 * time.Second)) // the blackhole being injected
	for _, p := range c.proxies {
		p.set(proxyPass, 0)
	}
	leader = c.waitMeta(c.all())

	// A clean partition of the leader: the majority elects and serves.
	c.isolate(leader, proxyCut, 0)
	rest := c.others(leader)
	c.waitMetaOf(rest)
	js2, _ := c.connect(rest...).JetStream()
	c.addStream(js2, "AFTER", 1)
	c.isolate(leader, proxyPass, 0)
	c.waitMeta(c.all())
	fc.waitMore(30)
	fc.halt()
	mustBeIntact(t, fc.verify("meta leader kill+partition"), 0)
}

// waitMetaOf waits until nodes agree on a leader among themselves.
func (c *faultCluster) waitMetaOf(nodes []int) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, "a meta leader among the majority", func() bool {
		name := ""
		for _, i := range nodes {
			m := c.meta(i)
			if m == nil || m.Meta.Leader == "" || (name != "" && m.Meta.Leader != name) {
				return false
			}
			name = m.Meta.Leader
		}
		return slices.Contains(nodes, c.index(name))
	})
}

// A bit flipped in a stored block, then a truncated block: the damaged
// messages are detected and reported, never served; the rest is intact.
func TestFaultBitFlipAndTruncation(t *testing.T) {
	forReplicas(t, faultBitFlipAndTruncation)
}

func faultBitFlipAndTruncation(t *testing.T, replicas int) {
	c := startFaultCluster(t, 3)
	js, _ := c.connect().JetStream()
	host := c.addStream(js, "BF", replicas)
	fc := newFaultChecker(t, c.connect(c.others(host)...), "BF")
	fc.publishN(faultScale(200))
	// A single copy loses what the disk lost; replicas must repair it.
	maxLost := 0
	if replicas == 1 {
		maxLost = 1
	}
	// repaired is what the damaged node logs when it repairs ("": the
	// damage is refilled from its own Raft log, silently).
	damage := func(what, repaired string, hurt func(path string, size int64)) {
		c.kill(host)
		files := c.dataFiles(host, "BF")
		if len(files) == 0 {
			t.Fatalf("no block files of BF on %s", c.nodes[host].name)
		}
		fi, err := os.Stat(files[0])
		if err != nil {
			t.Fatal(err)
		}
		hurt(files[0], fi.Size())
		c.start(host)
		c.waitMeta(c.all())
		r := fc.verify(what)
		mustBeIntact(t, r, maxLost)
		if replicas > 1 {
			// Every replica's copy is whole: the damaged one's too, read
			// once it leads (it repaired from its peers first).
			c.verifyEveryReplica(js, fc, what)
			if log := c.nodes[host].p.output(); !strings.Contains(log, repaired) {
				t.Fatalf("%s: no repair reported:\n%s", what, log)
			}
		}
		// The run after the damage must report it.
		if log := c.nodes[host].p.output(); r.lost > 0 && !strings.Contains(log, "corrupt") &&
			!strings.Contains(log, "truncated") && !strings.Contains(log, "cut short") {
			t.Fatalf("%s: %d messages lost and nothing reported:\n%s", what, r.lost, log)
		}
	}
	damage("bit flip", "fetching the rest again", func(path string, size int64) { flipBit(t, path, size/2, 3) })
	if replicas == 1 {
		// The flipped message is gone for good: forget it.
		fc.forgetLost()
	}
	fc.publishN(20)
	damage("truncation", "", func(path string, size int64) {
		if err := os.Truncate(path, size-40); err != nil {
			t.Fatal(err)
		}
	})
	if replicas == 1 {
		return // no Raft log
	}
	fc.publishN(20)
	// The replica's Raft log damaged in its middle: never applied, never
	// cut back silently; the member rejoins its group from its peers.
	damage("raft log bit flip", "rejoining the group from its peers", func(string, int64) {
		segs, _ := filepath.Glob(filepath.Join(c.nodes[host].store, "jetstream_cluster", "S-*", "*.seg"))
		if len(segs) == 0 {
			t.Fatalf("no raft log segment on %s", c.nodes[host].name)
		}
		fi, err := os.Stat(segs[0])
		if err != nil {
			t.Fatal(err)
		}
		flipBit(t, segs[0], fi.Size()/2, 2)
	})
}

// verifyEveryReplica reads the checker's stream back from each node in
// turn, leading it, and fails on any loss: every replica's copy is whole.
func (c *faultCluster) verifyEveryReplica(js nats.JetStreamContext, fc *faultChecker, what string) {
	c.t.Helper()
	for _, i := range c.all() {
		c.leadStream(js, fc.stream, i)
		mustBeIntact(c.t, fc.verify(what+", read from "+c.nodes[i].name), 0)
	}
}

// leadStream moves the leadership of a replicated stream to node i
// (STREAM.LEADER.STEPDOWN with a preferred server) and waits until i leads
// and answers.
func (c *faultCluster) leadStream(js nats.JetStreamContext, stream string, i int) {
	c.t.Helper()
	nc := c.connect()
	name := c.nodes[i].name
	deadline := time.Now().Add(60 * time.Second)
	for {
		si, err := js.StreamInfo(stream)
		if err == nil && si.Cluster != nil && si.Cluster.Leader == name {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not led by %s (info: %v); its log:\n%s", stream, name, err, c.log(i))
		}
		if err == nil {
			_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream,
				[]byte(`{"placement":{"preferred":"`+name+`"}}`), 5*time.Second)
		}
		time.Sleep(50 * time.Millisecond) // between attempts, not a condition
	}
}

// Five servers: the meta leader and another killed at once; the three
// left keep a quorum, elect, create and store; the two come back.
func TestFaultFiveNodesTwoKilled(t *testing.T) {
	forReplicas(t, faultFiveNodesTwoKilled)
}

func faultFiveNodesTwoKilled(t *testing.T, replicas int) {
	c := startFaultCluster(t, 5)
	leader := c.waitMeta(c.all())
	other := (leader + 1) % 5
	c.kill(leader)
	c.kill(other)
	rest := c.others(leader, other)
	c.waitMetaOf(rest)
	nc := c.connect(rest...)
	js, _ := nc.JetStream()
	c.addStream(js, "FIVE", replicas)
	fc := newFaultChecker(t, nc, "FIVE")
	fc.start()
	fc.waitMore(50)
	c.start(leader)
	c.start(other)
	c.waitMeta(c.all())
	fc.waitMore(50)
	fc.halt()
	mustBeIntact(t, fc.verify("five nodes, two killed"), 0)
}

// Two servers started with their routes cut each bootstrap a meta group;
// once the routes come, neither adds the other (their logs would diverge
// silently) and the leaders warn.
func TestFaultSplitMetaGroupsWarned(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	c := newFaultCluster(t, 2)
	c.proxies[[2]int{0, 1}].set(proxyCut, 0)
	c.start(0)
	c.start(1)
	waitFor(t, 30*time.Second, "both servers leading a group of their own", func() bool {
		for i := range c.nodes {
			if m := c.meta(i); m == nil || m.Meta.Leader != c.nodes[i].name {
				return false
			}
		}
		return true
	})
	c.proxies[[2]int{0, 1}].set(proxyPass, 0)
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(c.log(0)+c.log(1), "belongs to another meta group") {
		if time.Now().After(deadline) {
			t.Fatalf("no split warning:\n%s\n%s", c.log(0), c.log(1))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Neither took the other in: each still leads a group of one.
	for i := range c.nodes {
		if m := c.meta(i); m == nil || m.Meta.Leader != c.nodes[i].name || m.Meta.Size != 1 {
			t.Fatalf("%s after the warning: %+v", c.nodes[i].name, m)
		}
	}
}

// A membership change under load: a server that does not hold the stream
// is removed from the meta group (SERVER.REMOVE), killed and restarted, and
// joins again; nothing acknowledged is lost meanwhile.
func TestFaultMembershipChange(t *testing.T) {
	forReplicas(t, faultMembershipChange)
}

func faultMembershipChange(t *testing.T, replicas int) {
	c := startFaultCluster(t, 3)
	js, _ := c.connect().JetStream()
	host := c.addStream(js, "MC", replicas)
	fc := newFaultChecker(t, c.connect(host), "MC")
	fc.start()
	victim := c.others(host)[0]
	sys := c.connectAs(nats.UserInfo("sys", "sys"), host)
	for round := 0; round < faultScale(1); round++ {
		fc.waitMore(30)
		var m map[string]any
		waitFor(t, 30*time.Second, "SERVER.REMOVE of "+c.nodes[victim].name, func() bool {
			msg, err := sys.Request("$JS.API.SERVER.REMOVE", []byte(`{"peer":"`+c.nodes[victim].name+`"}`), 8*time.Second)
			m = nil
			return err == nil && json.Unmarshal(msg.Data, &m) == nil && m["success"] == true
		})
		waitFor(t, 30*time.Second, "the meta group without it", func() bool {
			for _, i := range c.others(victim) {
				if mt := c.meta(i); mt == nil || mt.Meta.Size != 2 {
					return false
				}
			}
			return true
		})
		fc.waitMore(30)
		c.kill(victim)
		c.start(victim)
		c.waitMeta(c.all())
	}
	fc.waitMore(30)
	fc.halt()
	mustBeIntact(t, fc.verify("membership change"), 0)
}

// Corrupt or empty metadata never deletes a stream: the stream's config
// file (meta.inf) emptied, then bit-flipped, then the meta group's snapshot
// emptied, each on the stream's leader while it is down. Each time the
// node reports the damage, the stream is still there on every replica and
// every acknowledged message is readable from each of them.
func TestFaultCorruptMetadata(t *testing.T) {
	forReplicas(t, faultCorruptMetadata)
}

func faultCorruptMetadata(t *testing.T, replicas int) {
	c := startFaultCluster(t, 3)
	js, _ := c.connect().JetStream()
	host := c.addStream(js, "MD", replicas)
	fc := newFaultChecker(t, c.connect(c.others(host)...), "MD")
	fc.publishN(faultScale(100))
	damage := func(what, reported string, hurt func()) {
		c.kill(host)
		hurt()
		c.start(host)
		c.waitMeta(c.all())
		if replicas > 1 {
			c.verifyEveryReplica(js, fc, what)
		} else {
			mustBeIntact(t, fc.verify(what), 0)
		}
		if log := c.nodes[host].p.output(); !strings.Contains(log, reported) {
			t.Fatalf("%s: %q not reported:\n%s", what, reported, log)
		}
		fc.publishN(20)
	}
	metaInf := func() string {
		files, _ := filepath.Glob(filepath.Join(c.nodes[host].store, "jetstream", "*", "streams", "MD", "meta.inf"))
		if len(files) != 1 {
			t.Fatalf("meta.inf of MD on %s: %v", c.nodes[host].name, files)
		}
		return files[0]
	}
	damage("empty meta.inf", "meta.inf", func() {
		if err := os.WriteFile(metaInf(), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	damage("bit flip in meta.inf", "meta.inf", func() {
		path := metaInf()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		flipBit(t, path, fi.Size()/2, 5)
	})
	damage("empty meta group snapshot", "snap", func() {
		snap := filepath.Join(c.nodes[host].store, "jetstream_cluster", "_meta_", "snap")
		if err := os.WriteFile(snap, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

// A node that lost its disk (killed, its whole store deleted, restarted)
// rejoins as a new member without rolling back the others: on R3 the
// stream's leader is the victim, and it holds the stream again afterwards,
// whole (read back from every replica); on R1 a node without the stream
// is, and the stream is untouched. Publishes go on throughout.
func TestFaultLostDisk(t *testing.T) {
	forReplicas(t, faultLostDisk)
}

func faultLostDisk(t *testing.T, replicas int) {
	c := startFaultCluster(t, 3)
	js, _ := c.connect().JetStream()
	host := c.addStream(js, "LD", replicas)
	victim := host
	if replicas == 1 {
		victim = c.others(host)[0]
	}
	fc := newFaultChecker(t, c.connect(c.others(victim)...), "LD")
	fc.start()
	for round := 0; round < faultScale(1); round++ {
		fc.waitMore(50)
		c.kill(victim)
		if err := os.RemoveAll(c.nodes[victim].store); err != nil {
			t.Fatal(err)
		}
		c.start(victim)
		c.waitMeta(c.all())
		fc.waitMore(50)
	}
	fc.halt()
	mustBeIntact(t, fc.verify("lost disk"), 0)
	if replicas > 1 {
		c.verifyEveryReplica(js, fc, "lost disk")
	}
}

// A replica that finds a corrupt message when it reads it (a bit flipped
// in a block no longer cached, no restart) does not serve it: it hands
// the leadership over, cuts its store back before the message and refills
// it from its peers; read back from every replica afterwards, nothing is
// lost.
func TestFaultCorruptReadRepaired(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	c := startFaultCluster(t, 3)
	js, _ := c.connect().JetStream()
	host := c.addStream(js, "CR", 3)
	victim := c.others(host)[0]
	fc := newFaultChecker(t, c.connect(), "CR")
	fc.pad = 100 << 10 // 16 MB in all: the first 4 MB block leaves the 8 MB cache
	fc.publishN(160)
	files := c.dataFiles(victim, "CR")
	if len(files) < 3 {
		t.Fatalf("%d block files of CR on %s", len(files), c.nodes[victim].name)
	}
	slices.Sort(files)
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	flipBit(t, files[0], fi.Size()/2, 1)
	c.verifyEveryReplica(js, fc, "corrupt read")
	if log := c.log(victim); !strings.Contains(log, "fetching the rest again") {
		t.Fatalf("no repair on %s:\n%s", c.nodes[victim].name, log)
	}
}
