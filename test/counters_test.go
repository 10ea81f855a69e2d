package test

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
)

// The server adds a connection's message counts to its totals once per
// read. A system request that arrives in the same read as earlier
// publishes is answered during that read: its answer must count them.
func TestCountersIncludeEarlierMessagesOfTheSameRead(t *testing.T) {
	s := RunServer(t, systemOptions())
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"user\":\"sys\",\"pass\":\"sys\",\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n" +
		"SUB _R.varz 1\r\nPING\r\n")
	rc.expect("PONG")
	inMsgs := func(pubs int) int64 {
		t.Helper()
		// One write: the publishes and the request reach the server together.
		rc.send(strings.Repeat("PUB x 3\r\nabc\r\n", pubs) + "PUB $SYS.REQ.SERVER.PING.VARZ _R.varz 0\r\n\r\n")
		f := strings.Fields(rc.readLine())
		if len(f) < 4 || f[1] != "_R.varz" {
			t.Fatalf("varz answer: %q", f)
		}
		size, _ := strconv.Atoi(f[len(f)-1])
		body := make([]byte, size+2)
		if _, err := io.ReadFull(rc.br, body); err != nil {
			t.Fatal(err)
		}
		var v struct {
			Data struct {
				InMsgs  int64 `json:"in_msgs"`
				InBytes int64 `json:"in_bytes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body[:size], &v); err != nil {
			t.Fatalf("varz answer: %v: %s", err, body)
		}
		return v.Data.InMsgs
	}
	before := inMsgs(0)
	after := inMsgs(5)
	// The five publishes and the second request itself.
	if after-before != 6 {
		t.Fatalf("in_msgs went from %d to %d, want 6 more", before, after)
	}
}
