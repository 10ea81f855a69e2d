package test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// Mirrors and sources across JetStream domains: the origin lives in the
// hub's domain, the copy in the leaf's, and the copy reaches its origin
// only through $JS.hub.API over the leaf connection.

// domainPair runs a hub (domain hub) and a leaf (domain leaf) with
// JetStream in the given store directories, connected.
func domainPair(t *testing.T, hubDir, leafDir string) (*server.Server, *server.Server) {
	t.Helper()
	hub := leafHub(t, func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, hubDir, "hub"
	})
	leaf := domainLeaf(t, hub.LeafAddr().Port, leafDir)
	waitLeafs(t, 1, hub, leaf)
	waitLeafSub(t, leaf, "$JS.hub.API.>")
	return hub, leaf
}

func domainLeaf(t *testing.T, hubLeafPort int, dir string) *server.Server {
	t.Helper()
	return leafOf(t, hubLeafPort, "", "", func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, dir, "leaf"
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A KV bucket of the hub mirrored into the leaf's domain with nats.go's
// Domain shorthand: existing keys, later puts and deletes all show on the
// leaf's bucket, and the mirror reports its origin as active. The origin
// is not seen from the leaf, so the bucket's mirror_direct stays as asked.
func TestCrossDomainKVMirror(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	hub, leaf := domainPair(t, t.TempDir(), t.TempDir())
	ctx := testCtx(t)
	hjs, _ := jetstream.New(connect(t, hub))
	src, err := hjs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", History: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := src.PutString(ctx, "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	ljs, _ := jetstream.New(connect(t, leaf))
	m, err := ljs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFGCOPY",
		Mirror: &jetstream.StreamSource{Name: "CFG", Domain: "hub"}})
	if err != nil {
		t.Fatal(err)
	}
	waitKV(t, m, "k4", "v4")
	if _, err := src.PutString(ctx, "k1", "changed"); err != nil {
		t.Fatal(err)
	}
	if err := src.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	waitKV(t, m, "k1", "changed")
	waitFor(t, 20*time.Second, "k2 deleted on the leaf", func() bool {
		_, err := m.Get(ctx, "k2")
		return err == jetstream.ErrKeyNotFound || err == jetstream.ErrKeyDeleted
	})
	st, err := ljs.Stream(ctx, "KV_CFGCOPY")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mi := info.Mirror
	if mi == nil || mi.Name != "KV_CFG" || mi.External == nil || mi.External.APIPrefix != "$JS.hub.API" ||
		mi.Active <= 0 || mi.Lag != 0 || info.State.LastSeq != 7 || !info.Config.MirrorDirect {
		t.Fatalf("mirror info %+v, state %+v", mi, info.State)
	}
}

func waitKV(t *testing.T, kv jetstream.KeyValue, key, want string) {
	t.Helper()
	waitFor(t, 20*time.Second, key+" = "+want+" on the leaf", func() bool {
		e, err := kv.Get(context.Background(), key)
		return err == nil && string(e.Value()) == want
	})
}

// A leaf stream sources a filtered subject of a hub stream. The copy
// survives the leaf restarting (messages published meanwhile arrive
// after it) and the hub restarting (the copy notices the silence and
// makes a new consumer): in the end every matching message is there
// once, in order.
func TestCrossDomainSourceResumes(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	hubDir, leafDir := t.TempDir(), t.TempDir()
	hub, leaf := domainPair(t, hubDir, leafDir)
	ctx := testCtx(t)
	hc := connect(t, hub)
	hjs, _ := jetstream.New(hc)
	if _, err := hjs.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	publish := func(hjs jetstream.JetStream, k int) {
		t.Helper()
		for i := 0; i < k; i++ {
			n++
			// Every other message is outside the source's filter.
			if _, err := hjs.Publish(ctx, "orders.eu", []byte("eu"+strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
			if _, err := hjs.Publish(ctx, "orders.us", []byte("us"+strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(hjs, 20)
	lc := connect(t, leaf)
	ljs, _ := jetstream.New(lc)
	_, err := ljs.CreateStream(ctx, jetstream.StreamConfig{Name: "EU", Subjects: []string{"local.>"},
		Sources: []*jetstream.StreamSource{{Name: "ORDERS", FilterSubject: "orders.eu", Domain: "hub"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitStreamMsgs(t, leaf, "EU", 20)

	// The leaf goes away; the hub takes more meanwhile.
	lc.Close()
	leaf.Shutdown()
	leaf.WaitForShutdown()
	publish(hjs, 10)
	leaf = domainLeaf(t, hub.LeafAddr().Port, leafDir)
	waitLeafs(t, 1, hub, leaf)
	waitStreamMsgs(t, leaf, "EU", 30)

	// The hub goes away and comes back; the copy follows.
	hc.Close()
	port := hub.LeafAddr().Port
	hub.Shutdown()
	hub.WaitForShutdown()
	hub = leafHub(t, func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, hubDir, "hub"
		o.LeafNode.Port = port
	})
	waitLeafs(t, 1, hub, leaf)
	hjs, _ = jetstream.New(connect(t, hub))
	publish(hjs, 10)
	waitStreamMsgs(t, leaf, "EU", 40)
	checkSourcedInOrder(t, leaf, "EU", 40)
}

func waitStreamMsgs(t *testing.T, s *server.Server, stream string, want uint64) {
	t.Helper()
	js, _ := jetstream.New(connect(t, s))
	var got uint64
	waitFor(t, 45*time.Second, fmt.Sprintf("%d messages in %s", want, stream), func() bool {
		st, err := js.Stream(context.Background(), stream)
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		if err != nil {
			return false
		}
		got = info.State.Msgs
		if got > want {
			t.Fatalf("%s has %d messages, want %d", stream, got, want)
		}
		return got == want
	})
}

// checkSourcedInOrder reads the stream's n messages: eu1..eu<n>, each
// with a Nats-Stream-Source naming the origin sequence it came from.
func checkSourcedInOrder(t *testing.T, s *server.Server, stream string, n int) {
	t.Helper()
	js, _ := jetstream.New(connect(t, s))
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		m, err := st.GetMsg(context.Background(), uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != "eu"+strconv.Itoa(i) {
			t.Fatalf("message %d is %q", i, m.Data)
		}
		f := strings.Fields(m.Header.Get("Nats-Stream-Source"))
		if len(f) < 2 || !strings.HasPrefix(f[0], "ORDERS:") || f[1] != strconv.Itoa(2*i-1) {
			t.Fatalf("message %d source header %q", i, m.Header.Get("Nats-Stream-Source"))
		}
	}
}

// Interop: a mirror and a source in the leaf's domain of an origin in
// the hub's, with our server on one side and the reference on the other.
func TestCrossDomainInteropWithReference(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	ref := refBin(t)
	for _, tc := range []struct{ name, hubBin, leafBin string }{
		{"our leaf sourcing from a reference hub", ref, serverBin},
		{"reference leaf sourcing from our hub", serverBin, ref},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			hubPort, hubLeafPort, leafPort := freePort(t), freePort(t), freePort(t)
			hubConf := writeConf(t, dir, "hub.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nleafnodes { listen: \"127.0.0.1:%d\" }\njetstream { domain: hub, store_dir: %q }\n",
				hubPort, hubLeafPort, dir+"/hub"))
			leafConf := writeConf(t, dir, "leaf.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nleafnodes { remotes [ { url: \"nats://127.0.0.1:%d\" } ], reconnect: \"100ms\" }\njetstream { domain: leaf, store_dir: %q }\n",
				leafPort, hubLeafPort, dir+"/leaf"))
			hp := startBinAt(t, tc.hubBin, "-c", hubConf)
			hp.waitOutput("Server is ready")
			lp := startBinAt(t, tc.leafBin, "-c", leafConf)
			lp.waitOutput("Server is ready")
			lp.waitOutput("Leafnode connection created")
			hc, lc := dialNATS(t, hubPort), dialNATS(t, leafPort)
			crossDomainCopies(t, hc, lc)
		})
	}
}

// crossDomainCopies creates a stream on the hub, a mirror and a filtered
// source of it on the leaf (one with a deliver prefix), and checks both
// copy every message, including a burst that takes flow control, through
// consumers the origin does not count or list.
func crossDomainCopies(t *testing.T, hc, lc *nats.Conn) {
	t.Helper()
	ctx := testCtx(t)
	hjs, _ := jetstream.New(hc)
	if _, err := hjs.CreateStream(ctx, jetstream.StreamConfig{Name: "ORIGIN", Subjects: []string{"o.>"}}); err != nil {
		t.Fatal(err)
	}
	ljs, _ := jetstream.New(lc)
	var m, s jetstream.Stream
	waitFor(t, 20*time.Second, "the copies created on the leaf", func() bool {
		var err error
		m, err = ljs.CreateStream(ctx, jetstream.StreamConfig{Name: "M",
			Mirror: &jetstream.StreamSource{Name: "ORIGIN", Domain: "hub"}})
		return err == nil
	})
	s, err := ljs.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"local.>"},
		Sources: []*jetstream.StreamSource{{Name: "ORIGIN", FilterSubject: "o.b",
			External: &jetstream.ExternalStream{APIPrefix: "$JS.hub.API", DeliverPrefix: "dlv.hub"}}}})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4096)
	const burst = 1500 // 6 MB: past the flow-control window
	for i := 0; i < burst; i++ {
		subj := "o.a"
		if i%3 == 0 {
			subj = "o.b"
		}
		hc.Publish(subj, big)
	}
	if _, err := hjs.Publish(ctx, "o.b", []byte("last")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 45*time.Second, "the mirror and the source caught up", func() bool {
		mi, err1 := m.Info(ctx)
		si, err2 := s.Info(ctx)
		return err1 == nil && err2 == nil && mi.State.Msgs == burst+1 && si.State.Msgs == burst/3+1
	})
	// The copies' consumers on the origin are direct ones: left out of
	// its consumer count and names.
	origin, err := hjs.Stream(ctx, "ORIGIN")
	if err != nil {
		t.Fatal(err)
	}
	oi, err := origin.Info(ctx)
	if err != nil || oi.State.Consumers != 0 {
		t.Fatalf("origin consumer_count %d (%v)", oi.State.Consumers, err)
	}
	for name := range origin.ConsumerNames(ctx).Name() {
		t.Fatalf("origin lists consumer %q", name)
	}
	last, err := s.GetLastMsgForSubject(ctx, "o.b")
	if err != nil || string(last.Data) != "last" {
		t.Fatalf("last sourced message %v %v", last, err)
	}
	if h := last.Header.Get("Nats-Stream-Source"); !strings.HasPrefix(h, "ORIGIN:") || !strings.Contains(h, " "+strconv.Itoa(burst+1)+" o.b > o.b") {
		t.Fatalf("Nats-Stream-Source %q", h)
	}
}
