package test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// With thousands of requests across a service import left unanswered, a new
// request still gets its responses back, for exactly as long as the
// export's response_threshold: every response that arrives was sent within
// the threshold of the request, responses keep arriving well into it, and
// the ones sent after it are dropped.
func TestServiceResponsesRouteBackUntilThreshold(t *testing.T) {
	const threshold = time.Second
	o := DefaultTestOptions()
	o.Accounts = []*server.AccountOpts{
		{Name: "A", Exports: []*server.ExportOpts{{Service: "svc", ResponseType: "stream", ResponseThreshold: threshold}}},
		{Name: "B", Imports: []*server.ImportOpts{{Account: "A", Service: "svc"}}},
	}
	o.Users = []*server.User{{Username: "a", Password: "a", Account: "A"}, {Username: "b", Password: "b", Account: "B"}}
	s := RunServer(t, o)
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))

	const unanswered = 5000
	var ignored atomic.Int64
	answer := make(chan *nats.Msg, 1)
	a.Subscribe("svc", func(m *nats.Msg) {
		if string(m.Data) == "answer" {
			answer <- m
			return
		}
		ignored.Add(1)
	})
	a.Flush()
	for i := 0; i < unanswered; i++ {
		b.PublishRequest("svc", "nobody.listens", nil)
	}
	b.Flush()
	waitFor(t, 10*time.Second, "the unanswered requests to reach the service", func() bool {
		return ignored.Load() == unanswered
	})

	inbox := nats.NewInbox()
	got, _ := b.SubscribeSync(inbox)
	b.Flush()
	b.PublishRequest("svc", inbox, []byte("answer"))
	var req *nats.Msg
	select {
	case req = <-answer:
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the service")
	}
	// Send a response every 20ms until well past the threshold; each
	// carries how long after receiving the request it was sent. The route
	// was opened before the request arrived, so it expires at most
	// threshold after that.
	received := time.Now()
	go func() {
		for {
			since := time.Since(received)
			a.Publish(req.Reply, []byte(strconv.FormatInt(int64(since), 10)))
			if since > threshold+500*time.Millisecond {
				a.Flush()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var latest time.Duration
	n := 0
	for {
		m, err := got.NextMsg(threshold)
		if err != nil {
			break
		}
		sent, _ := strconv.ParseInt(string(m.Data), 10, 64)
		if time.Duration(sent) > threshold {
			t.Fatalf("response sent %v after the request came through, past the %v threshold", time.Duration(sent), threshold)
		}
		latest = max(latest, time.Duration(sent))
		n++
	}
	if n == 0 {
		t.Fatal("no response routed back")
	}
	if latest < threshold/2 {
		t.Fatalf("the route closed early: the last response through was sent at %v of %v", latest, threshold)
	}
}
