package server

import (
	"io"
	"net"
	"testing"
)

func TestReadSizer(t *testing.T) {
	var r readSizer
	b := make([]byte, startBufSize)
	// Reads that fill the buffer and reach no other connection grow it,
	// doubling, up to maxQuietBufSize.
	for i := 0; i < 20 && len(b) < maxQuietBufSize; i++ {
		b = r.next(b, len(b), false)
	}
	if len(b) != maxQuietBufSize {
		t.Fatalf("quiet full reads: buffer %d, want %d", len(b), maxQuietBufSize)
	}
	if b = r.next(b, len(b), false); len(b) != maxQuietBufSize {
		t.Fatalf("grew past maxQuietBufSize: %d", len(b))
	}
	// A read that queued messages for others brings it back to maxBufSize.
	if b = r.next(b, len(b), true); len(b) != maxBufSize {
		t.Fatalf("fan-out read: buffer %d, want %d", len(b), maxBufSize)
	}
	if b = r.next(b, len(b), true); len(b) != maxBufSize {
		t.Fatalf("fan-out full read: buffer %d, want %d", len(b), maxBufSize)
	}
	// Reads using a quarter or more of it keep it.
	for i := 0; i < 10; i++ {
		b = r.next(b, len(b)/4, true)
	}
	if len(b) != maxBufSize {
		t.Fatalf("quarter reads changed the buffer to %d", len(b))
	}
	// A run of shorter reads halves it, once per run, down to minBufSize.
	for i := 0; i < shortsToShrink; i++ {
		if b = r.next(b, 1, true); len(b) != maxBufSize {
			t.Fatalf("shrank after %d short reads", i+1)
		}
	}
	if b = r.next(b, 1, true); len(b) != maxBufSize/2 {
		t.Fatalf("after a run of short reads: %d, want %d", len(b), maxBufSize/2)
	}
	for i := 0; i < 100; i++ {
		b = r.next(b, 0, false)
	}
	if len(b) != minBufSize {
		t.Fatalf("idle buffer %d, want %d", len(b), minBufSize)
	}
}

// The write path recycles its chunks and buffer lists: a write in steady
// state allocates nothing.
func TestWritePathNoAllocs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var vec vectorWriter
	held := make([][]byte, 0, 4)
	write := func() {
		held = append(held[:0], getChunk(minOutChunk), getChunk(4*minOutChunk))
		for i := range held {
			held[i] = append(held[i], "MSG a 1 2\r\nhi\r\n"...)
		}
		if _, err := vec.load(held).WriteTo(nc); err != nil {
			t.Fatal(err)
		}
		for _, b := range held {
			putChunk(b)
		}
	}
	write() // warm the pools
	if allocs := testing.AllocsPerRun(200, write); allocs != 0 && !raceEnabled {
		t.Fatalf("%.2f allocations per write", allocs)
	}
	nc.Close()
	<-done
}
