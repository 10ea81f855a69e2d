package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// benchPubSub publishes b.N messages of size bytes over one raw connection
// and waits until a second raw connection has read every one of them.
func benchPubSub(b *testing.B, size int) {
	s := RunServer(b, nil)
	addr := s.Addr().String()
	sub, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	br := bufio.NewReaderSize(sub, 64*1024)
	br.ReadString('\n')
	io.WriteString(sub, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB bench 1\r\nPING\r\n")
	if l, _ := br.ReadString('\n'); l != "PONG\r\n" {
		b.Fatalf("subscribe: %q", l)
	}
	pub, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	bufio.NewReader(pub).ReadString('\n')
	io.WriteString(pub, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")

	payload := bytes.Repeat([]byte("x"), size)
	msg := append([]byte(fmt.Sprintf("PUB bench %d\r\n", size)), payload...)
	msg = append(msg, "\r\n"...)
	// Each delivered message is "MSG bench 1 <size>\r\n<payload>\r\n".
	perMsg := len(fmt.Sprintf("MSG bench 1 %d\r\n", size)) + size + 2
	want := int64(perMsg) * int64(b.N)
	done := make(chan error, 1)
	go func() {
		n, err := io.CopyN(io.Discard, br, want)
		if n != want && err == nil {
			err = io.ErrUnexpectedEOF
		}
		done <- err
	}()
	batch := bytes.Repeat(msg, 256)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := b.N - sent
		if n >= 256 {
			pub.Write(batch)
			sent += 256
			continue
		}
		pub.Write(batch[:n*len(msg)])
		sent += n
	}
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		b.Fatal("subscriber did not receive everything")
	}
}

func BenchmarkPubSub16B(b *testing.B)  { benchPubSub(b, 16) }
func BenchmarkPubSub1KiB(b *testing.B) { benchPubSub(b, 1024) }
