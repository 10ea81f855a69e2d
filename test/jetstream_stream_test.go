package test

import (
	"context"
	"errors"
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
