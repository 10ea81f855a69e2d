package test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// With sync_interval: always, several publishers on several streams get
// every PubAck (group commit batches them, it must not lose or delay any),
// and every acknowledged message is there after a kill -9 of the binary.
// (A SIGKILL keeps the page cache, so this proves the acknowledgement
// follows the write; the fsync count per round is proven in the server
// package, TestJetStreamGroupCommitOneFsyncPerRound.)
func TestJetStreamBinarySyncAlwaysKill9(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q, sync_interval: always }\n",
		port, filepath.Join(dir, "store")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p, js := startJSBin(t, conf, port)
	streams := []string{"D1", "D2"}
	for _, name := range streams {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	const publishers, perPublisher = 4, 500
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for i := 0; i < publishers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- publishDurable(ctx, port, streams[i%len(streams)], i, perPublisher)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(5 * time.Second)

	_, js = startJSBin(t, conf, port)
	for _, name := range streams {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(publishers / len(streams) * perPublisher)
		if s := st.CachedInfo().State; s.Msgs != want || s.LastSeq != want {
			t.Fatalf("%s after kill -9: %+v, want %d messages", name, s, want)
		}
		for i := 0; i < publishers; i++ {
			if streams[i%len(streams)] != name {
				continue
			}
			subj := fmt.Sprintf("%s.p%d", name, i)
			m, err := st.GetLastMsgForSubject(ctx, subj)
			if err != nil || string(m.Data) != fmt.Sprintf("p%d-%d", i, perPublisher-1) {
				t.Fatalf("last of %s: %v %v", subj, m, err)
			}
		}
	}
}

// publishDurable publishes n messages from connection i, all in flight at
// once, and checks every PubAck.
func publishDurable(ctx context.Context, port int, stream string, i, n int) error {
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, n)
	for k := range futures {
		subj := fmt.Sprintf("%s.p%d", stream, i)
		if futures[k], err = js.PublishAsync(subj, []byte(fmt.Sprintf("p%d-%d", i, k))); err != nil {
			return err
		}
	}
	for k, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Stream != stream || ack.Duplicate {
				return fmt.Errorf("publisher %d message %d: %+v", i, k, ack)
			}
		case err := <-f.Err():
			return fmt.Errorf("publisher %d message %d: %w", i, k, err)
		case <-ctx.Done():
			return fmt.Errorf("publisher %d: PubAcks missing", i)
		}
	}
	return nil
}
