package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Group commit on the publish path (stream_ingest_round.go), through a real
// client. The ingest goroutine is held inside its commit by taking the file
// store's write lock, so that what queues meanwhile is known exactly: no
// timing is involved.

func gcServer(t *testing.T, syncAlways bool) (*Server, jetstream.JetStream, *nats.Conn) {
	t.Helper()
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(), JetStreamSyncAlways: syncAlways})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(10000))
	if err != nil {
		t.Fatal(err)
	}
	return s, js, nc
}

// gcStream creates stream S on s.> and returns it with its file store.
func gcStream(t *testing.T, ctx context.Context, s *Server, js jetstream.JetStream) (*stream, *FileStore) {
	t.Helper()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	st := s.js.Load().lookupAccount(DEFAULT_GLOBAL_ACCOUNT).lookupStream("S")
	fs, ok := st.store.(*FileStore)
	if !ok {
		t.Fatalf("store is %T", st.store)
	}
	// The first message creates the block file (with fsyncs of its own).
	if _, err := js.Publish(ctx, "s.first", []byte("first")); err != nil {
		t.Fatal(err)
	}
	return st, fs
}

// gcHoldCommit takes the store's write lock, publishes n messages, and
// returns once the ingest goroutine holds some of them in a round blocked
// in its commit and the rest (how many it returns) are queued behind it.
// No PubAck may have arrived by then: none of them is durable yet.
func gcHoldCommit(t *testing.T, st *stream, fs *FileStore, js jetstream.JetStream, n int, opts func(i int) []jetstream.PublishOpt) ([]jetstream.PubAckFuture, int) {
	t.Helper()
	var before StreamState
	fs.FastState(&before)
	fs.wmu.Lock()
	futures := make([]jetstream.PubAckFuture, n)
	for i := range futures {
		f, err := js.PublishAsync(fmt.Sprintf("s.%d", i%7), []byte(fmt.Sprintf("payload-%d", i)), opts(i)...)
		if err != nil {
			fs.wmu.Unlock()
			t.Fatal(err)
		}
		futures[i] = f
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ss StreamState
		fs.FastState(&ss)
		st.in.mu.Lock()
		queued := len(st.in.msgs)
		st.in.mu.Unlock()
		inRound := int(ss.Msgs - before.Msgs)
		if inRound > 0 && inRound+queued == n {
			if pending := js.PublishAsyncPending(); pending != n {
				fs.wmu.Unlock()
				t.Fatalf("%d PubAcks arrived before the commit", n-pending)
			}
			return futures, queued
		}
		if time.Now().After(deadline) {
			fs.wmu.Unlock()
			t.Fatalf("ingest never blocked in its commit: %d in the round, %d queued", inRound, queued)
		}
		time.Sleep(time.Millisecond)
	}
}

func noOpts(int) []jetstream.PublishOpt { return nil }

// With sync_interval: always, however many publishes a round holds, it
// costs one fsync, and every publish is acknowledged after it.
func TestJetStreamGroupCommitOneFsyncPerRound(t *testing.T) {
	s, js, _ := gcServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, fs := gcStream(t, ctx, s, js)
	const n = 500
	syncs := fs.syncs.Load()
	futures, queued := gcHoldCommit(t, st, fs, js, n, noOpts)
	fs.wmu.Unlock()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Stream != "S" || ack.Sequence != uint64(i+2) {
				t.Fatalf("publish %d: %+v", i, ack)
			}
		case err := <-f.Err():
			t.Fatalf("publish %d: %v", i, err)
		case <-ctx.Done():
			t.Fatal("PubAcks missing")
		}
	}
	// The round blocked in its commit, then (unless it took them all) the
	// round of everything that queued behind it: one fsync per round.
	rounds := uint64(1)
	if queued > 0 {
		rounds++
	}
	if got := fs.syncs.Load() - syncs; got != rounds {
		t.Fatalf("%d fsyncs for %d messages in %d rounds", got, n, rounds)
	}
	m, err := js.Conn().Request("$JS.API.STREAM.MSG.GET.S", []byte(`{"seq":501}`), 5*time.Second)
	if err != nil || !strings.Contains(string(m.Data), `"seq":501`) {
		t.Fatalf("last message: %v %s", err, m.Data)
	}
}

// A failed commit acknowledges none of its round: every publisher gets
// err 10077, the store refuses further writes, and the round's Nats-Msg-Id
// are forgotten, so a retry is not called a duplicate of a message that
// never became durable.
func TestJetStreamGroupCommitFailureAcksNothing(t *testing.T) {
	for _, always := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync_always=%v", always), func(t *testing.T) {
			s, js, _ := gcServer(t, always)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, fs := gcStream(t, ctx, s, js)
			const n = 50
			withID := func(i int) []jetstream.PublishOpt {
				return []jetstream.PublishOpt{jetstream.WithMsgID(fmt.Sprintf("id-%d", i))}
			}
			futures, _ := gcHoldCommit(t, st, fs, js, n, withID)
			// The block's file goes away under the writer: its write fails.
			fs.active.f.Close()
			fs.wmu.Unlock()
			for i, f := range futures {
				select {
				case ack := <-f.Ok():
					t.Fatalf("publish %d acknowledged after a failed commit: %+v", i, ack)
				case err := <-f.Err():
					var apiErr *jetstream.APIError
					if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
						t.Fatalf("publish %d: %v", i, err)
					}
				case <-ctx.Done():
					t.Fatal("answers missing")
				}
			}
			ack, err := js.Publish(ctx, "s.retry", []byte("again"), jetstream.WithMsgID("id-0"))
			var apiErr *jetstream.APIError
			if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
				t.Fatalf("retry after the failure: %+v %v", ack, err)
			}
			// While the store stays read-only, a duplicate's PubAck would
			// turn into an error anyway: look at the window itself, once
			// the ingest goroutine has ended.
			st.stopIngest()
			if st.in.lastMsgID != "" || len(st.in.dedupe) != 0 || len(st.in.dedupeLog) != 0 {
				t.Fatalf("ids of the failed round kept: %q %v", st.in.lastMsgID, st.in.dedupe)
			}
		})
	}
}
