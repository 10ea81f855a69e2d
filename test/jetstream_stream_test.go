package test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func jsCtx(t *testing.T) (jetstream.JetStream, *nats.Conn, context.Context) {
	t.Helper()
	s, _ := runJS(t)
	nc := connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return js, nc, ctx
}

// nats.go's jetstream package: create, publish (acked once stored), info,
// get, delete, purge, update and delete of a stream.
func TestJetStreamStreamLifecycle(t *testing.T) {
	js, _, ctx := jsCtx(t)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		ack, err := js.Publish(ctx, "orders.new", []byte("order"))
		if err != nil || ack.Stream != "ORDERS" || ack.Sequence != uint64(i) || ack.Duplicate {
			t.Fatalf("publish %d: %+v %v", i, ack, err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 5 || info.State.FirstSeq != 1 || info.State.LastSeq != 5 {
		t.Fatalf("info %+v %v", info, err)
	}
	m, err := st.GetMsg(ctx, 3)
	if err != nil || string(m.Data) != "order" || m.Subject != "orders.new" || m.Sequence != 3 {
		t.Fatalf("get %+v %v", m, err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, "orders.none"); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("last for missing subject: %v", err)
	}
	if err := st.DeleteMsg(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetMsg(ctx, 3); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("deleted message: %v", err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	if info, _ = st.Info(ctx); info.State.Msgs != 1 || info.State.LastSeq != 5 {
		t.Fatalf("after purge keep 1: %+v", info.State)
	}
	if _, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>", "returns"}, MaxMsgs: 2}); err != nil {
		t.Fatal(err)
	}
	if ack, err := js.Publish(ctx, "returns", nil); err != nil || ack.Sequence != 6 {
		t.Fatalf("new subject after update: %+v %v", ack, err)
	}
	names := js.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if len(got) != 1 || got[0] != "ORDERS" {
		t.Fatalf("names %v %v", got, names.Err())
	}
	if err := js.DeleteStream(ctx, "ORDERS"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, "ORDERS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("deleted stream: %v", err)
	}
	if _, err := js.Publish(ctx, "orders.new", nil); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish after delete: %v", err)
	}
}

// Nats-Msg-Id duplicates and the Nats-Expected-* headers.
func TestJetStreamPublishHeaders(t *testing.T) {
	js, _, ctx := jsCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.*"}}); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "s.a", []byte("1"), jetstream.WithMsgID("id-1"))
	if err != nil || ack.Sequence != 1 {
		t.Fatal(ack, err)
	}
	ack, err = js.Publish(ctx, "s.a", []byte("1"), jetstream.WithMsgID("id-1"))
	if err != nil || !ack.Duplicate || ack.Sequence != 1 {
		t.Fatalf("duplicate: %+v %v", ack, err)
	}
	var apiErr *jetstream.APIError
	_, err = js.Publish(ctx, "s.a", nil, jetstream.WithExpectStream("OTHER"))
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10060 {
		t.Fatalf("expected stream: %v", err)
	}
	_, err = js.Publish(ctx, "s.a", nil, jetstream.WithExpectLastSequence(7))
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10071 || apiErr.Description != "wrong last sequence: 1" {
		t.Fatalf("expected last seq: %v", err)
	}
	if _, err = js.Publish(ctx, "s.b", nil, jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
		t.Fatalf("first on s.b: %v", err)
	}
	_, err = js.Publish(ctx, "s.b", nil, jetstream.WithExpectLastSequencePerSubject(0))
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10071 {
		t.Fatalf("expected last subject seq: %v", err)
	}
	_, err = js.Publish(ctx, "s.a", nil, jetstream.WithExpectLastMsgID("nope"))
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10070 {
		t.Fatalf("expected last msg id: %v", err)
	}
}

// Limits come from the store: discard new refuses, discard old drops.
func TestJetStreamLimits(t *testing.T) {
	js, _, ctx := jsCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NEW", Subjects: []string{"new"},
		MaxMsgs: 2, Discard: jetstream.DiscardNew, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := js.Publish(ctx, "new", nil); err != nil {
			t.Fatal(err)
		}
	}
	var apiErr *jetstream.APIError
	if _, err := js.Publish(ctx, "new", nil); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Fatalf("discard new: %v", err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OLD", Subjects: []string{"old"}, MaxMsgs: 2, MaxMsgSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := js.Publish(ctx, "old", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "old", []byte("12345")); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10054 {
		t.Fatalf("max_msg_size: %v", err)
	}
	if info, _ := st.Info(ctx); info.State.Msgs != 2 || info.State.FirstSeq != 2 {
		t.Fatalf("discard old: %+v", info.State)
	}
}

// max_memory_store and max_file_store as the reference applies them
// (observed): max_bytes is reserved at create, and publishes are refused
// with 10023 once the stored bytes are over the limit.
func TestJetStreamServerLimits(t *testing.T) {
	o := DefaultTestOptions()
	o.JetStream, o.StoreDir = true, t.TempDir()
	o.JetStreamMaxStore, o.JetStreamMaxMemory = 2000, 1000
	nc := connect(t, RunServer(t, o))
	for _, tc := range []struct{ body, desc string }{
		{`{"name":"A","max_bytes":5000}`, "insufficient storage resources available"},
		{`{"name":"A"}`, ""},
		{`{"name":"M","storage":"memory","max_bytes":999}`, ""},
		{`{"name":"M2","storage":"memory","max_bytes":2}`, "insufficient memory resources available"},
	} {
		var name struct{ Name string }
		json.Unmarshal([]byte(tc.body), &name)
		if _, _, d := apiErr(jsReq(t, nc, "$JS.API.STREAM.CREATE."+name.Name, tc.body)); d != tc.desc {
			t.Fatalf("%s: %q, want %q", tc.body, d, tc.desc)
		}
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	payload := make([]byte, 700)
	var apiErr *jetstream.APIError
	for i := 0; i < 5; i++ {
		_, err := js.Publish(ctx, "A", payload)
		if errors.As(err, &apiErr) && apiErr.ErrorCode == 10023 && apiErr.Description == "insufficient resources" {
			if i < 2 {
				t.Fatalf("refused after %d messages of 700 bytes under a 2000-byte limit", i)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("5 messages of 700 bytes were stored under a 2000-byte limit")
}

// With a domain, $JS.<domain>.API works like $JS.API, and PubAcks and
// account info carry the domain.
func TestJetStreamDomain(t *testing.T) {
	o := DefaultTestOptions()
	o.JetStream, o.StoreDir, o.JetStreamDomain = true, t.TempDir(), "HUB"
	s := RunServer(t, o)
	if rc := dialRaw(t, s); !strings.Contains(rc.info, `"domain":"HUB"`) {
		t.Fatalf("INFO without the domain: %s", rc.info)
	}
	nc := connect(t, s)
	js, err := jetstream.NewWithDomain(nc, "HUB")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "s", nil)
	if err != nil || ack.Domain != "HUB" || ack.Sequence != 1 {
		t.Fatalf("ack %+v %v", ack, err)
	}
	info, err := js.AccountInfo(ctx)
	if err != nil || info.Domain != "HUB" || info.Streams != 1 {
		t.Fatalf("account info %+v %v", info, err)
	}
}

// max_age expires messages through the store; sealing refuses publishes.
func TestJetStreamMaxAgeAndSealed(t *testing.T) {
	js, _, ctx := jsCtx(t)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AGE", Subjects: []string{"age"}, MaxAge: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if info := st.CachedInfo(); info.Config.Duplicates != 200*time.Millisecond {
		t.Fatalf("duplicate window defaults to max_age when shorter: %v", info.Config.Duplicates)
	}
	if _, err := js.Publish(ctx, "age", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "message expired", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0 && info.State.LastSeq == 1
	})
	cfg := st.CachedInfo().Config
	cfg.Sealed = true
	sealed, err := js.UpdateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := sealed.CachedInfo().Config; c.MaxAge != 0 || c.Discard != jetstream.DiscardNew || !c.DenyDelete || !c.DenyPurge {
		t.Fatalf("sealed config %+v", c)
	}
	var apiErr *jetstream.APIError
	if _, err := js.Publish(ctx, "age", nil); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10109 {
		t.Fatalf("publish to a sealed stream: %v", err)
	}
	if err := sealed.Purge(ctx); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10109 {
		t.Fatalf("purging a sealed stream: %v", err)
	}
	cfg.Sealed = false
	if _, err := js.UpdateStream(ctx, cfg); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10052 {
		t.Fatalf("unsealing: %v", err)
	}
}
