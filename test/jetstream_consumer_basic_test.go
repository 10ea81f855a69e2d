package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsConnect connects a nats.go client and its jetstream handle.
func jsConnect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// cpublishN publishes n messages "<subj> i" with acks.
func cpublishN(t *testing.T, js jetstream.JetStream, subj string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 1; i <= n; i++ {
		if _, err := js.Publish(ctx, subj, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// fetchN fetches up to batch messages within wait.
func fetchN(t *testing.T, c jetstream.Consumer, batch int, wait time.Duration) []jetstream.Msg {
	t.Helper()
	b, err := c.Fetch(batch, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if b.Error() != nil {
		t.Fatalf("fetch: %v", b.Error())
	}
	return out
}

// A durable pull consumer created with nats.go delivers in order, takes
// acks, reports its state and keeps it across a restart.
func TestJetStreamConsumerPullAckRestart(t *testing.T) {
	dir := t.TempDir()
	s := runJSDir(t, dir)
	nc, js := jsConnect(t, s.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	cpublishN(t, js, "s.a", 10)
	c, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msgs := fetchN(t, c, 4, time.Second)
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4", len(msgs))
	}
	for i, m := range msgs {
		if string(m.Data()) != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("message %d: %q", i, m.Data())
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.Sequence.Stream != uint64(i+1) || md.Sequence.Consumer != uint64(i+1) || md.NumDelivered != 1 || md.NumPending != uint64(9-i) {
			t.Fatalf("metadata %d: %+v", i, md)
		}
	}
	for _, m := range msgs[:3] {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Delivered.Consumer != 4 || ci.Delivered.Stream != 4 || ci.AckFloor.Stream != 3 || ci.NumAckPending != 1 || ci.NumPending != 6 {
		t.Fatalf("info: delivered %+v floor %+v ackpending %d pending %d", ci.Delivered, ci.AckFloor, ci.NumAckPending, ci.NumPending)
	}
	nc.Close()
	s.Shutdown()

	s = runJSDir(t, dir)
	_, js = jsConnect(t, s.ClientURL())
	c, err = js.Consumer(ctx, "S", "D")
	if err != nil {
		t.Fatal(err)
	}
	ci = c.CachedInfo()
	if ci.Delivered.Stream != 4 || ci.AckFloor.Stream != 3 || ci.NumAckPending != 1 || ci.NumPending != 6 {
		t.Fatalf("after restart: delivered %+v floor %+v ackpending %d pending %d", ci.Delivered, ci.AckFloor, ci.NumAckPending, ci.NumPending)
	}
	msgs = fetchN(t, c, 10, time.Second)
	if len(msgs) != 6 || string(msgs[0].Data()) != "m5" {
		t.Fatalf("after restart got %d messages, first %q", len(msgs), msgs[0].Data())
	}
}

// no_wait on an empty consumer ends with 404 at once; an expiring request
// ends with 408 and its pending counts.
func TestJetStreamConsumerPullStatuses(t *testing.T) {
	s, _ := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.S.D", inbox, []byte(`{"batch":2,"no_wait":true}`)); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Status") != "404" || m.Header.Get("Description") != "No Messages" {
		t.Fatalf("no_wait: %+v", m.Header)
	}
	if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.S.D", inbox, []byte(`{"batch":3,"expires":50000000,"max_bytes":1000}`)); err != nil {
		t.Fatal(err)
	}
	m, err = sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Status") != "408" || m.Header.Get("Nats-Pending-Messages") != "3" || m.Header.Get("Nats-Pending-Bytes") != "1000" {
		t.Fatalf("expired: %+v", m.Header)
	}
}

// The create forms, NAMES/LIST paging and the error answers as the
// reference gives them (observed on v2.15.2).
func TestJetStreamConsumerAPIForms(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["foo.>"]}`)
	m := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"ack_policy":"explicit"}}`)
	cfg := m["config"].(map[string]any)
	if name, _ := m["name"].(string); len(name) != 8 || cfg["name"] != nil || cfg["inactive_threshold"] != 5e9 {
		t.Fatalf("legacy ephemeral: name %v config %v", m["name"], cfg)
	}
	m = jsReq(t, nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D", `{"stream_name":"S","config":{"durable_name":"D","ack_policy":"all","filter_subject":"foo.a"}}`)
	if m["name"] != "D" || m["config"].(map[string]any)["filter_subject"] != "foo.a" {
		t.Fatalf("durable create: %v", m)
	}
	m = jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.F.foo.b", `{"stream_name":"S","config":{"name":"F","filter_subject":"foo.b"}}`)
	if m["name"] != "F" {
		t.Fatalf("filtered create: %v", m)
	}
	for _, tc := range []struct{ subj, body, want string }{
		{"$JS.API.CONSUMER.NAMES.S", `{"offset":3}`, `{"type":"io.nats.jetstream.api.v1.consumer_names_response","total":3,"offset":3,"limit":1024,"consumers":[]}`},
		{"$JS.API.CONSUMER.NAMES.X", ``, `{"type":"io.nats.jetstream.api.v1.consumer_names_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"total":0,"offset":0,"limit":0,"consumers":[]}`},
		{"$JS.API.CONSUMER.LIST.X", ``, `{"type":"io.nats.jetstream.api.v1.consumer_list_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"total":0,"offset":0,"limit":0,"consumers":[]}`},
		{"$JS.API.CONSUMER.LIST.S", `{"offset":5}`, `{"type":"io.nats.jetstream.api.v1.consumer_list_response","total":3,"offset":3,"limit":256,"consumers":[]}`},
		{"$JS.API.CONSUMER.INFO.S.D", `x`, `{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":400,"err_code":10038,"description":"expected an empty request payload"}}`},
		{"$JS.API.CONSUMER.INFO.S.Z", ``, `{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}`},
		{"$JS.API.CONSUMER.DELETE.S.D", ``, `{"type":"io.nats.jetstream.api.v1.consumer_delete_response","success":true}`},
		{"$JS.API.CONSUMER.DELETE.S.D", ``, `{"type":"io.nats.jetstream.api.v1.consumer_delete_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}`},
		{"$JS.API.CONSUMER.CREATE.S.C", ``, `{"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":400,"err_code":10056,"description":"stream name in subject does not match request"}}`},
	} {
		msg, err := nc.Request(tc.subj, []byte(tc.body), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(msg.Data); got != tc.want && !strings.Contains(got, tc.want) {
			t.Fatalf("%s %s:\n got %s\nwant %s", tc.subj, tc.body, got, tc.want)
		}
	}
}
