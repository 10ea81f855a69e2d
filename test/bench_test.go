package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// benchPubSub publishes b.N messages of size bytes over one raw connection
// and waits until a second raw connection has read every one of them.
func benchPubSub(b *testing.B, size int) {
	s := RunServer(b, nil)
	addr := s.Addr().String()
	sub := dialBench(b, addr, "SUB bench 1\r\n")
	defer sub.Close()
	cpu := processCPU()
	rawPubSub(b, addr, sub, size, 60*time.Second)
	reportCPU(b, cpu)
}

// rawPubSub publishes b.N messages of size bytes on "bench" from a raw
// connection to pubAddr, 256 to a write, and waits up to wait until sub (a
// raw connection subscribed to "bench" as sid 1) has read every one of
// them. The timer restarts before the first publish; it returns the time
// from there to the last message read.
func rawPubSub(b *testing.B, pubAddr string, sub net.Conn, size int, wait time.Duration) time.Duration {
	b.Helper()
	pub := dialBench(b, pubAddr, "")
	defer pub.Close()
	payload := bytes.Repeat([]byte("x"), size)
	msg := append([]byte(fmt.Sprintf("PUB bench %d\r\n", size)), payload...)
	msg = append(msg, "\r\n"...)
	// Each delivered message is "MSG bench 1 <size>\r\n<payload>\r\n".
	perMsg := len(fmt.Sprintf("MSG bench 1 %d\r\n", size)) + size + 2
	want := int64(perMsg) * int64(b.N)
	done := make(chan error, 1)
	go func() {
		n, err := io.CopyN(io.Discard, bufio.NewReaderSize(sub, 64*1024), want)
		if n != want && err == nil {
			err = io.ErrUnexpectedEOF
		}
		done <- err
	}()
	batch := bytes.Repeat(msg, 256)
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(b.N-sent, 256)
		pub.Write(batch[:n*len(msg)])
		sent += n
	}
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(wait):
		b.Fatal("subscriber did not receive everything")
	}
	return time.Since(start)
}

func BenchmarkPubSub16B(b *testing.B)  { benchPubSub(b, 16) }
func BenchmarkPubSub1KiB(b *testing.B) { benchPubSub(b, 1024) }

// BenchmarkPub1KiB publishes b.N messages of 1 KiB that nobody subscribes
// to, then waits for the PONG that follows them: the reader's cost alone.
func BenchmarkPub1KiB(b *testing.B) {
	s := RunServer(b, nil)
	pub, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	br := bufio.NewReader(pub)
	br.ReadString('\n')
	io.WriteString(pub, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
	msg := append([]byte("PUB bench 1024\r\n"), bytes.Repeat([]byte("x"), 1024)...)
	msg = append(msg, "\r\n"...)
	batch := bytes.Repeat(msg, 32) // what a client's 32 KiB write buffer holds
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for sent := 0; sent < b.N; sent += 32 {
		n := min(32, b.N-sent)
		if _, err := pub.Write(batch[:n*len(msg)]); err != nil {
			b.Fatal(err)
		}
	}
	io.WriteString(pub, "PING\r\n")
	pub.SetReadDeadline(time.Now().Add(60 * time.Second))
	if l, err := br.ReadString('\n'); l != "PONG\r\n" {
		b.Fatalf("after publishing: %q %v", l, err)
	}
	reportCPU(b, cpu)
}

// BenchmarkReqRep8 runs b.N requests from 8 concurrent raw requesters, each
// waiting for its reply before the next request, through one raw responder.
// Every request has its own reply subject, as nats.go's Request does.
func BenchmarkReqRep8(b *testing.B) {
	const requesters = 8
	s := RunServer(b, nil)
	addr := s.Addr().String()
	resp := dialBench(b, addr, "SUB bench.req 1\r\n")
	defer resp.Close()
	go respondAll(resp)
	reqs := make([]net.Conn, requesters)
	for i := range reqs {
		reqs[i] = dialBench(b, addr, fmt.Sprintf("SUB _INBOX.%d.* 1\r\n", i))
		defer reqs[i].Close()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	errs := make(chan error, requesters)
	for i, c := range reqs {
		go func() { errs <- requestLoop(c, i, b.N/requesters+1) }()
	}
	for range reqs {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// dialBench connects, sends CONNECT and setup, and waits for the PONG that
// shows the setup was processed.
func dialBench(b *testing.B, addr, setup string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	br.ReadString('\n')
	io.WriteString(c, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"+setup+"PING\r\n")
	if l, _ := br.ReadString('\n'); l != "PONG\r\n" {
		b.Fatalf("setup: %q", l)
	}
	return c
}

// respondAll answers every "MSG bench.req 1 <reply> 16" with 16 bytes to
// <reply>, one write per read batch, until the connection closes.
func respondAll(c net.Conn) {
	br := bufio.NewReaderSize(c, 64*1024)
	var out []byte
	payload := "0123456789abcdef\r\n"
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		// "MSG bench.req 1 <reply> 16\r\n": the reply is the 4th word.
		const prefix = "MSG bench.req 1 "
		if !bytes.HasPrefix(line, []byte(prefix)) {
			continue
		}
		reply := line[len(prefix):]
		reply = reply[:bytes.IndexByte(reply, ' ')]
		out = append(out, "PUB "...)
		out = append(out, reply...)
		out = append(out, " 16\r\n"...)
		out = append(out, payload...)
		if _, err := br.Discard(16 + 2); err != nil {
			return
		}
		if br.Buffered() == 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

// requestLoop sends n requests on c, each with a fresh reply subject under
// _INBOX.<id>., waiting for each reply.
func requestLoop(c net.Conn, id, n int) error {
	br := bufio.NewReader(c)
	var out []byte
	for i := 0; i < n; i++ {
		out = append(out[:0], "PUB bench.req _INBOX."...)
		out = strconv.AppendInt(out, int64(id), 10)
		out = append(out, '.')
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, " 16\r\n0123456789abcdef\r\n"...)
		if _, err := c.Write(out); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if !bytes.HasPrefix(line, []byte("MSG _INBOX.")) {
			return fmt.Errorf("request %d: got %q", i, line)
		}
		if _, err := br.Discard(16 + 2); err != nil {
			return err
		}
	}
	return nil
}
