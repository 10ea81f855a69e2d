package test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// churnSubject is the bench tool's sub-churn subject space: even cycles
// literal churn.<c>.<i>, odd ones wildcard churn.<c>.<mid>.w<i>.
func churnSubject(c, i int, mid string) string {
	if i%2 == 0 {
		return "churn." + strconv.Itoa(c) + "." + strconv.Itoa(i)
	}
	return "churn." + strconv.Itoa(c) + "." + mid + ".w" + strconv.Itoa(i)
}

// churnConn is a raw connection whose reader discards deliveries and
// reports each PONG, so that the writer can flush-wait like a client.
type churnConn struct {
	nc    net.Conn
	w     *bufio.Writer
	pongs chan struct{}
}

func dialChurn(b *testing.B, addr string) *churnConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	cc := &churnConn{nc: nc, w: bufio.NewWriterSize(nc, 32*1024), pongs: make(chan struct{}, 16)}
	br := bufio.NewReaderSize(nc, 64*1024)
	if _, err := br.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	go cc.read(br)
	io.WriteString(nc, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
	return cc
}

// read skips MSG payloads and signals PONGs until the connection closes.
func (cc *churnConn) read(br *bufio.Reader) {
	defer close(cc.pongs)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("PONG")):
			cc.pongs <- struct{}{}
		case bytes.HasPrefix(line, []byte("MSG ")):
			f := bytes.Fields(line)
			n, _ := strconv.Atoi(string(f[len(f)-1]))
			if _, err := br.Discard(n + 2); err != nil {
				return
			}
		}
	}
}

// flush writes what is buffered and waits for the server's PONG.
func (cc *churnConn) flush() error {
	cc.w.WriteString("PING\r\n")
	if err := cc.w.Flush(); err != nil {
		return err
	}
	select {
	case _, ok := <-cc.pongs:
		if !ok {
			return io.ErrUnexpectedEOF
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("no PONG within 30s")
	}
}

// BenchmarkSubChurn mirrors the bench tool's sub-churn scenario: 10
// connections each subscribe a new subject and drop the one from 100 cycles
// before, flushing every 100 cycles, while a publisher sends 2 messages per
// cycle to random subjects of the same space (most of them cache misses,
// some matching live subscriptions). One op is one SUB/UNSUB cycle.
func BenchmarkSubChurn(b *testing.B) {
	const conns, live, batch, pubPerCycle = 10, 100, 100, 2
	s := RunServer(b, nil)
	addr := s.Addr().String()
	cycles := max(b.N/conns, batch)
	rng := rand.New(rand.NewPCG(3, 4))
	pool := make([][]byte, 1<<16)
	for i := range pool {
		subj := churnSubject(rng.IntN(conns), rng.IntN(cycles), strconv.Itoa(rng.IntN(1000)))
		pool[i] = []byte("PUB " + subj + " 16\r\n0123456789abcdef\r\n")
	}
	pub := dialChurn(b, addr)
	defer pub.nc.Close()
	batches := make(chan int, conns*4)
	pubDone := make(chan struct{})
	go func() { // publishes pubPerCycle messages per cycle done
		defer close(pubDone)
		sent := 0
		for n := range batches {
			for range n * pubPerCycle {
				pub.w.Write(pool[sent&(len(pool)-1)])
				sent++
			}
			pub.w.Flush()
		}
		if err := pub.flush(); err != nil {
			b.Error("publisher:", err)
		}
	}()
	cs := make([]*churnConn, conns)
	for c := range cs {
		cs[c] = dialChurn(b, addr)
		defer cs[c].nc.Close()
		if err := cs[c].flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c, cc := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < cycles; i++ {
				cc.w.WriteString("SUB " + churnSubject(c, i, "*") + " " + strconv.Itoa(i+1) + "\r\n")
				if i >= live {
					cc.w.WriteString("UNSUB " + strconv.Itoa(i+1-live) + "\r\n")
				}
				if i%batch == batch-1 {
					if err := cc.flush(); err != nil {
						b.Error(err)
						return
					}
					batches <- batch
				}
			}
		}()
	}
	wg.Wait()
	close(batches)
	<-pubDone
	b.StopTimer()
	b.ReportMetric(float64(cycles*conns)/b.Elapsed().Seconds(), "cycles/s")
}

// BenchmarkSubscribe is the subscribe phase of the bench tool's subs-100k
// scenario over one raw connection: SUB a.<n>.b and SUB a.*.c<n>
// alternately, pipelined, then a PING. One op is one SUB.
func BenchmarkSubscribe(b *testing.B) {
	s := RunServer(b, nil)
	cc := dialChurn(b, s.Addr().String())
	defer cc.nc.Close()
	lines := make([][]byte, b.N)
	for i := range lines {
		if i%2 == 0 {
			lines[i] = []byte("SUB a." + strconv.Itoa(i/2) + ".b " + strconv.Itoa(i+1) + "\r\n")
		} else {
			lines[i] = []byte("SUB a.*.c" + strconv.Itoa(i/2) + " " + strconv.Itoa(i+1) + "\r\n")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, l := range lines {
		cc.w.Write(l)
	}
	if err := cc.flush(); err != nil {
		b.Fatal(err)
	}
}
