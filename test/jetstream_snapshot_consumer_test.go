package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

// snapConsSetup makes stream SC with ten messages and three durable pull
// consumers part way through: C (filtered) delivered 5, acked 3; R
// delivered 2 and redelivered 1 after a NAK; M (memory-stored) delivered
// and acked 4. Ack waits are an hour so nothing falls due during a test.
func snapConsSetup(t *testing.T, nc *nats.Conn) {
	t.Helper()
	jsReq(t, nc, "$JS.API.STREAM.CREATE.SC", `{"name":"SC","subjects":["sc.>"],"storage":"file"}`)
	for i := 1; i <= 10; i++ {
		if _, err := nc.Request("sc."+strconv.Itoa(i), []byte("m"+strconv.Itoa(i)), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for name, extra := range map[string]string{"C": `,"filter_subject":"sc.>"`, "R": ``, "M": `,"mem_storage":true`} {
		cfg := fmt.Sprintf(`{"stream_name":"SC","config":{"durable_name":%q,"ack_policy":"explicit","ack_wait":3600000000000%s}}`, name, extra)
		if r := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.SC."+name, cfg); r["error"] != nil {
			t.Fatalf("create %s: %v", name, r)
		}
	}
	ackAll(t, nc, snapFetch(t, nc, "C", 3), "+ACK")
	snapFetch(t, nc, "C", 2)
	ackAll(t, nc, snapFetch(t, nc, "R", 1), "-NAK")
	snapFetch(t, nc, "R", 2)
	ackAll(t, nc, snapFetch(t, nc, "M", 4), "+ACK")
}

// snapFetch pulls n messages of consumer name on SC.
func snapFetch(t *testing.T, nc *nats.Conn, name string, n int) []*nats.Msg {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	req := fmt.Sprintf(`{"batch":%d,"expires":2000000000}`, n)
	if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.SC."+name, inbox, []byte(req)); err != nil {
		t.Fatal(err)
	}
	out := make([]*nats.Msg, 0, n)
	for len(out) < n {
		m, err := sub.NextMsg(3 * time.Second)
		if err != nil || len(m.Data) == 0 {
			t.Fatalf("fetch %s: got %d of %d: %v %v", name, len(out), n, err, m)
		}
		out = append(out, m)
	}
	return out
}

func ackAll(t *testing.T, nc *nats.Conn, msgs []*nats.Msg, ack string) {
	t.Helper()
	for _, m := range msgs {
		if _, err := nc.Request(m.Reply, []byte(ack), 2*time.Second); err != nil {
			t.Fatalf("%s: %v", ack, err)
		}
	}
}

// consBrief is what a restore must carry over of a consumer.
func consBrief(t *testing.T, nc *nats.Conn, name string) string {
	t.Helper()
	ci := jsReq(t, nc, "$JS.API.CONSUMER.INFO.SC."+name, "")
	cfg, _ := ci["config"].(map[string]any)
	if cfg == nil {
		t.Fatalf("info %s: %v", name, ci)
	}
	pair := func(k string) string {
		p, _ := ci[k].(map[string]any)
		return fmt.Sprint(p["consumer_seq"], "/", p["stream_seq"])
	}
	return fmt.Sprintf("delivered=%s ack_floor=%s num_pending=%v num_ack_pending=%v num_redelivered=%v ack_wait=%v filter=%v mem=%v",
		pair("delivered"), pair("ack_floor"), ci["num_pending"], ci["num_ack_pending"], ci["num_redelivered"],
		cfg["ack_wait"], cfg["filter_subject"], cfg["mem_storage"])
}

func consBriefs(t *testing.T, nc *nats.Conn) string {
	t.Helper()
	return consBrief(t, nc, "C") + "\n" + consBrief(t, nc, "R") + "\n" + consBrief(t, nc, "M")
}

// wantSnapConsBriefs is what snapConsSetup leaves, as the reference shows it.
const wantSnapConsBriefs = "delivered=5/5 ack_floor=3/3 num_pending=5 num_ack_pending=2 num_redelivered=0 ack_wait=3.6e+12 filter=sc.> mem=<nil>\n" +
	"delivered=3/2 ack_floor=0/0 num_pending=8 num_ack_pending=2 num_redelivered=1 ack_wait=3.6e+12 filter=<nil> mem=<nil>\n" +
	"delivered=4/4 ack_floor=4/4 num_pending=6 num_ack_pending=0 num_redelivered=0 ack_wait=3.6e+12 filter=<nil> mem=true"

// checkContinues fetches one message of each consumer: each carries on
// where it stopped (stream sequence, consumer sequence, delivery count).
func checkContinues(t *testing.T, nc *nats.Conn) {
	t.Helper()
	for name, want := range map[string]string{"C": "6/6/1", "R": "3/4/1", "M": "5/5/1"} {
		m := snapFetch(t, nc, name, 1)[0]
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(md.Sequence.Stream, "/", md.Sequence.Consumer, "/", md.NumDelivered)
		if got != want || string(m.Data) != "m"+strconv.FormatUint(md.Sequence.Stream, 10) {
			t.Fatalf("%s fetched %s %q, want %s", name, got, m.Data, want)
		}
	}
}

// archiveText is an archive decompressed.
func archiveText(t *testing.T, arc []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(s2.NewReader(bytes.NewReader(arc)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A backup carries each consumer's configuration and state, memory-stored
// consumers included; the restore recreates them where they stopped, and
// they are ordinary durables after a restart.
func TestJetStreamSnapshotConsumersRoundTrip(t *testing.T) {
	o := DefaultTestOptions()
	o.JetStream, o.StoreDir = true, t.TempDir()
	s := RunServer(t, o)
	nc := connect(t, s)
	snapConsSetup(t, nc)
	if got := consBriefs(t, nc); got != wantSnapConsBriefs {
		t.Fatalf("setup\n got %s\nwant %s", got, wantSnapConsBriefs)
	}
	_, arc, _ := snapBackup(t, nc, "SC", 4096, 1<<20)
	text := archiveText(t, arc)
	for _, want := range []string{`consumers/C{"config":{"durable_name":"C","name":"C","deliver_policy":"all","ack_policy":"explicit","ack_wait":3600000000000`,
		`"filter_subject":"sc.\u003e"`, `consumers/M{"config":{"durable_name":"M"`, `"mem_storage":true`, `"redelivered":{"1":1}`} {
		if !bytes.Contains(text, []byte(want)) {
			t.Fatalf("archive lacks %s:\n%s", want, text)
		}
	}
	jsReq(t, nc, "$JS.API.STREAM.DELETE.SC", "")
	got := snapRestore(t, nc, "SC", `{"name":"SC","subjects":["sc.>"],"storage":"file"}`, arc, 1000)
	if st, _ := got["state"].(map[string]any); st == nil || st["consumer_count"] != float64(3) {
		t.Fatalf("restore: %v", got)
	}
	if got := consBriefs(t, nc); got != wantSnapConsBriefs {
		t.Fatalf("restored\n got %s\nwant %s", got, wantSnapConsBriefs)
	}
	checkContinues(t, nc)
	want := consBrief(t, nc, "C")
	nc.Close()
	s.Shutdown()
	s = RunServer(t, o)
	nc = connect(t, s)
	if got := consBrief(t, nc, "C"); got != want {
		t.Fatalf("after restart %s, want %s", got, want)
	}
}

// Backups move between this server and the reference both ways with their
// consumers: a backup made on the reference restores here, one made here
// restores on the reference, each consumer where it stopped.
func TestJetStreamSnapshotConsumersWithReference(t *testing.T) {
	port := freePort(t)
	ref := startBinAt(t, refBin(t), "-js", "-sd", filepath.Join(t.TempDir(), "ref"), "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	ref.waitOutput("Server is ready")
	rc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(port), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	s, _ := runJS(t)
	nc := connect(t, s)
	const cfg = `{"name":"SC","subjects":["sc.>"],"storage":"file"}`

	snapConsSetup(t, rc)
	if got := consBriefs(t, rc); got != wantSnapConsBriefs {
		t.Fatalf("reference setup\n got %s\nwant %s", got, wantSnapConsBriefs)
	}
	_, arc, _ := snapBackup(t, rc, "SC", 4096, 1<<20)
	snapRestore(t, nc, "SC", cfg, arc, 1000)
	if got := consBriefs(t, nc); got != wantSnapConsBriefs {
		t.Fatalf("reference archive restored here\n got %s\nwant %s", got, wantSnapConsBriefs)
	}
	checkContinues(t, nc)

	jsReq(t, nc, "$JS.API.STREAM.DELETE.SC", "")
	jsReq(t, rc, "$JS.API.STREAM.DELETE.SC", "")
	snapConsSetup(t, nc)
	_, arc, _ = snapBackup(t, nc, "SC", 4096, 1<<20)
	if r := snapRestore(t, rc, "SC", cfg, arc, 1000); r["error"] != nil {
		t.Fatalf("restore on the reference: %v", r)
	}
	if got := consBriefs(t, rc); got != wantSnapConsBriefs {
		t.Fatalf("our archive restored on the reference\n got %s\nwant %s", got, wantSnapConsBriefs)
	}
	checkContinues(t, rc)
}

// no_consumers leaves the consumers out (consumer_count 0 in state.json),
// as on the reference.
func TestJetStreamSnapshotNoConsumers(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	snapConsSetup(t, nc)
	deliver := nats.NewInbox()
	sub, err := nc.SubscribeSync(deliver)
	if err != nil {
		t.Fatal(err)
	}
	jsReq(t, nc, "$JS.API.STREAM.SNAPSHOT.SC", `{"deliver_subject":"`+deliver+`","no_consumers":true}`)
	var arc []byte
	for range 100 {
		m, err := sub.NextMsg(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) == 0 {
			break
		}
		arc = append(arc, m.Data...)
		if m.Reply != "" {
			m.Respond(nil)
		}
	}
	text := archiveText(t, arc)
	if bytes.Contains(text, []byte("consumers/")) || !bytes.Contains(text, []byte(`"consumer_count":0`)) {
		t.Fatalf("archive with no_consumers:\n%s", text)
	}
}

// arcRecord is one archive record (store_snapshot.go's format).
func arcRecord(name string, seq uint64, data string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(name)))
	b = binary.AppendVarint(b, time.Now().UnixNano())
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(append(b, name...), data...)
}

// A consumer of an archive that this server refuses (a bad configuration,
// a name that does not match its config) is left out and logged; the
// stream and the other consumers are restored.
func TestJetStreamRestoreSkipsBadConsumer(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	var raw bytes.Buffer
	zw := s2.NewWriter(&raw)
	zw.Write([]byte("NATSARC1"))
	zw.Write(arcRecord("state.json", 0, `{"messages":2,"first_seq":1,"last_seq":2,"consumer_count":3}`))
	const st = `"state":{"delivered":{"consumer_seq":1,"stream_seq":1},"ack_floor":{"consumer_seq":1,"stream_seq":1}}`
	zw.Write(arcRecord("consumers/BAD", 0, `{"config":{"durable_name":"BAD","ack_policy":"sometimes"},`+st+`}`))
	zw.Write(arcRecord("consumers/OTHER", 0, `{"config":{"durable_name":"NOTOTHER"},`+st+`}`))
	zw.Write(arcRecord("consumers/GOOD", 0, `{"config":{"durable_name":"GOOD","ack_policy":"explicit"},`+st+`}`))
	zw.Write(arcRecord("sc.1", 1, "m1"))
	zw.Write(arcRecord("sc.2", 2, "m2"))
	zw.Write(make([]byte, 5))
	zw.Close()
	got := snapRestore(t, nc, "SC", `{"name":"SC","subjects":["sc.>"]}`, raw.Bytes(), 1000)
	if st, _ := got["state"].(map[string]any); st == nil || st["messages"] != float64(2) || st["consumer_count"] != float64(1) {
		t.Fatalf("restore: %v", got)
	}
	names := jsReq(t, nc, "$JS.API.CONSUMER.NAMES.SC", "")
	if fmt.Sprint(names["consumers"]) != "[GOOD]" {
		t.Fatalf("consumers %v", names)
	}
	if got := consBrief(t, nc, "GOOD"); got[:len("delivered=1/1 ack_floor=1/1 num_pending=1 ")] != "delivered=1/1 ack_floor=1/1 num_pending=1 " {
		t.Fatalf("GOOD: %s", got)
	}
}
