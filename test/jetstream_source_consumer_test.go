package test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Durable sourcing config: a consumer needs a valid name and a literal
// deliver subject and excludes filter_subject and opt_start_*; the
// duplicate check counts the consumer's name (as observed on v2.15.2).
func TestJetStreamSourceConsumerConfigErrors(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsOK(t, nc, "$JS.API.STREAM.CREATE.UP", `{"name":"UP","subjects":["up"]}`)
	const invalid = "stream source consumer config is invalid"
	for i, tc := range []struct {
		body    string
		errCode float64
		desc    string
	}{
		{`"sources":[{"name":"UP","consumer":{"name":"","deliver_subject":"d"}}]`, 10215, invalid},
		{`"sources":[{"name":"UP","consumer":{"name":"C","deliver_subject":""}}]`, 10215, invalid},
		{`"sources":[{"name":"UP","consumer":{"name":"C.x","deliver_subject":"d"}}]`, 10215, invalid},
		{`"sources":[{"name":"UP","consumer":{"name":"C","deliver_subject":"d.*"}}]`, 10215, invalid},
		{`"sources":[{"name":"UP","filter_subject":"up","consumer":{"name":"C","deliver_subject":"d"}}]`, 10215, invalid},
		{`"sources":[{"name":"UP","opt_start_seq":3,"consumer":{"name":"C","deliver_subject":"d"}}]`, 10215, invalid},
		{`"sources":[{"name":"UP","consumer":{"name":"C","deliver_subject":"d"}},{"name":"UP","consumer":{"name":"C","deliver_subject":"e"}}]`, 10140, "duplicate source configuration detected"},
		{`"mirror":{"name":"UP","filter_subject":"up","consumer":{"name":"C","deliver_subject":"d"}}`, 10213, "stream mirror consumer config is invalid"},
		{`"sources":[{"name":"UP","consumer":{"name":"C","deliver_subject":"d"}},{"name":"UP"}]`, 0, ""},
		{`"sources":[{"name":"UP","subject_transforms":[{"src":"up","dest":"u2"}],"consumer":{"name":"C","deliver_subject":"d"}}]`, 0, ""},
	} {
		name := fmt.Sprintf("D%d", i)
		m := jsReq(t, nc, "$JS.API.STREAM.CREATE."+name, fmt.Sprintf(`{"name":%q,%s}`, name, tc.body))
		if _, ec, desc := apiErr(m); ec != tc.errCode || desc != tc.desc {
			t.Errorf("%s: got %v %q, want %v %q", tc.body, ec, desc, tc.errCode, tc.desc)
		}
	}
}

// A source through a durable consumer of a workqueue stream: the copy
// takes what the consumer delivers (with the reference's Nats-Stream-Source
// form, ":C=" and the hash of the consumer name), its flow-control answers
// acknowledge what it stored so the origin lets go of it, and after a
// restart it goes on without copying anything twice.
func TestJetStreamSourceConsumerWorkqueue(t *testing.T) {
	dir := t.TempDir()
	s := runJSDir(t, dir)
	nc := connect(t, s)
	jsOK(t, nc, "$JS.API.STREAM.CREATE.UP", `{"name":"UP","subjects":["up.>"],"retention":"workqueue"}`)
	for i := 1; i <= 3; i++ {
		pub(t, nc, fmt.Sprintf("up.%d", i), fmt.Sprintf("m%d", i))
	}
	jsOK(t, nc, "$JS.API.CONSUMER.CREATE.UP.C",
		`{"stream_name":"UP","config":{"durable_name":"C","deliver_subject":"dlv","ack_policy":"flow_control"}}`)
	ci := jsOK(t, nc, "$JS.API.STREAM.CREATE.DOWN",
		`{"name":"DOWN","sources":[{"name":"UP","consumer":{"name":"C","deliver_subject":"dlv"}}]}`)
	cfg := ci["config"].(map[string]any)
	src := cfg["sources"].([]any)[0].(map[string]any)["consumer"].(map[string]any)
	if src["name"] != "C" || src["deliver_subject"] != "dlv" {
		t.Fatalf("config round trip: %v", src)
	}
	waitMsgs(t, nc, "DOWN", 3)
	m := getMsg(t, nc, "DOWN", 2)
	if want := "Nats-Stream-Source: UP:C=jZ6RvVRH 2 > > up.2 "; m.Subject != "up.2" || string(m.Data) != "m2" || !strings.Contains(string(m.Hdrs), want) {
		t.Fatalf("copied message: %s %q %q", m.Subject, m.Data, m.Hdrs)
	}
	// The flow-control answers acknowledge: the workqueue empties.
	waitFor(t, 5*time.Second, "UP to let go of the copied messages", func() bool {
		return streamState(t, nc, "UP")["messages"] == float64(0)
	})
	si := sourceInfo(t, nc, "DOWN", 0)
	if si["name"] != "UP" || si["active"].(float64) < 0 {
		t.Fatalf("source info: %v", si)
	}
	nc.Close()
	s.Shutdown()
	s.WaitForShutdown()

	s = runJSDir(t, dir)
	nc = connect(t, s)
	for i := 4; i <= 5; i++ {
		pub(t, nc, fmt.Sprintf("up.%d", i), fmt.Sprintf("m%d", i))
	}
	waitMsgs(t, nc, "DOWN", 5)
	for seq := uint64(1); seq <= 5; seq++ {
		if m := getMsg(t, nc, "DOWN", seq); string(m.Data) != fmt.Sprintf("m%d", seq) {
			t.Fatalf("DOWN seq %d holds %q", seq, m.Data)
		}
	}
	waitFor(t, 5*time.Second, "UP to let go of the new messages", func() bool {
		return streamState(t, nc, "UP")["messages"] == float64(0)
	})
}

// A consumer without ack policy flow_control cannot feed a durable source:
// the source shows the reference's error and copies nothing.
func TestJetStreamSourceConsumerNeedsFlowControlAck(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsOK(t, nc, "$JS.API.STREAM.CREATE.UP", `{"name":"UP","subjects":["up"]}`)
	pub(t, nc, "up", "x")
	jsOK(t, nc, "$JS.API.CONSUMER.CREATE.UP.E",
		`{"stream_name":"UP","config":{"durable_name":"E","deliver_subject":"de","ack_policy":"explicit"}}`)
	jsOK(t, nc, "$JS.API.STREAM.CREATE.DOWN",
		`{"name":"DOWN","sources":[{"name":"UP","consumer":{"name":"E","deliver_subject":"de"}}]}`)
	var si map[string]any
	waitFor(t, 5*time.Second, "the source's error", func() bool {
		si = sourceInfo(t, nc, "DOWN", 0)
		return si["error"] != nil
	})
	e := si["error"].(map[string]any)
	if e["err_code"] != float64(10217) || e["description"] != "stream source consumer requires flow control ack policy" {
		t.Fatalf("source error: %v", e)
	}
	if n := streamState(t, nc, "DOWN")["messages"]; n != float64(0) {
		t.Fatalf("DOWN copied %v messages", n)
	}
}
