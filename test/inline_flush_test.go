package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// pendingFor is the server's queue for connection cid, in bytes.
func pendingFor(t *testing.T, s *server.Server, cid uint64) int {
	t.Helper()
	cz, err := s.Connz(&server.ConnzOptions{CID: cid})
	if err != nil {
		t.Fatal(err)
	}
	if len(cz.Conns) != 1 {
		t.Fatalf("connection %d is gone", cid)
	}
	return cz.Conns[0].Pending
}

// infoCID is the client_id announced in an INFO line.
func infoCID(t *testing.T, info string) uint64 {
	var v struct {
		CID uint64 `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(info, "INFO ")), &v); err != nil {
		t.Fatal(err)
	}
	return v.CID
}

// TestInlineFlushDoesNotHoldThePublisher: request-sized publishes are
// written to the receiver's socket by the publisher's own goroutine. Once
// the receiver stops reading and its kernel buffers fill, such a write must
// give up at once and leave the rest, in order, to the receiver's writer:
// the publisher is not held for write_deadline, no byte is lost or
// reordered, and a receiver that resumes reading in time is no slow consumer.
func TestInlineFlushDoesNotHoldThePublisher(t *testing.T) {
	o := DefaultTestOptions()
	o.WriteDeadline = 5 * time.Second
	s := RunServer(t, o)
	sub := dialRaw(t, s)
	sub.conn.(*net.TCPConn).SetReadBuffer(128 << 10) // well over the loopback MSS: window updates flow
	sub.send("CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPING\r\n")
	sub.expect("PONG")
	subCID := infoCID(t, sub.info)

	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
	pub.expect("PONG")
	// One message and a PING per read: under 2 KiB, so flushed inline.
	const size = 1800
	payload := func(i int) string { return fmt.Sprintf("%08d", i) + strings.Repeat("x", size-8) }
	var slowest time.Duration
	sent := 0
	for ; sent < 20000; sent++ {
		start := time.Now()
		pub.send("PUB x " + strconv.Itoa(size) + "\r\n" + payload(sent) + "\r\nPING\r\n")
		pub.expect("PONG")
		slowest = max(slowest, time.Since(start))
		// Stop once the receiver's queue spilled past its kernel buffers.
		if sent%64 == 0 && pendingFor(t, s, subCID) > 128<<10 {
			break
		}
	}
	if pendingFor(t, s, subCID) <= 128<<10 {
		t.Fatalf("%d messages never filled the receiver's buffers", sent)
	}
	if slowest > time.Second {
		t.Fatalf("a publish waited %v for another connection's socket", slowest)
	}

	// The receiver resumes and gets everything, in order.
	sub.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i <= sent; i++ {
		line, err := sub.br.ReadString('\n')
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := "MSG x 1 " + strconv.Itoa(size) + "\r\n"; line != want {
			t.Fatalf("message %d: got %q, want %q", i, line, want)
		}
		body := make([]byte, size+2)
		if _, err := io.ReadFull(sub.br, body); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := string(body[:size]); got != payload(i) {
			t.Fatalf("message %d out of order or damaged: starts %q", i, got[:8])
		}
	}
	if v := s.Varz(); v.SlowConsumers != 0 {
		t.Fatalf("%d slow consumers", v.SlowConsumers)
	}
	sub.send("PING\r\n")
	sub.expect("PONG")
}

// TestSlowConsumerLogsWhatWasPending: the write-deadline slow consumer log
// line gives the chunks and bytes that were still queued, not a constant.
func TestSlowConsumerLogsWhatWasPending(t *testing.T) {
	o := DefaultTestOptions()
	o.WriteDeadline = 200 * time.Millisecond
	s, logs := runLoggedServer(t, o)
	sub := dialRaw(t, s)
	sub.conn.(*net.TCPConn).SetReadBuffer(4096)
	sub.send("CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPING\r\n")
	sub.expect("PONG")

	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\n")
	msg := []byte("PUB x 1024\r\n" + strings.Repeat("x", 1024) + "\r\n")
	chunk := bytes.Repeat(msg, 64)
	go func() {
		for i := 0; i < 200; i++ {
			pub.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := pub.conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	line := logs.waitLog(t, "Slow Consumer Detected: WriteDeadline of 200ms exceeded")
	m := regexp.MustCompile(`with (\d+) chunks of (\d+) total bytes\.$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("log line %q", line)
	}
	chunks, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	// Chunks are at most 64 KiB; a queue that blocked a write holds more than
	// what fits in the kernel's buffers alone would have taken at once.
	if chunks < 1 || total < chunks || total > chunks*64<<10 {
		t.Fatalf("implausible pending figures in %q", line)
	}
	if total < 64<<10 {
		t.Fatalf("only %d bytes pending in %q", total, line)
	}
}
