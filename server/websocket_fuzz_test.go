package server

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/flate"
)

// wsTestFrames frames data as a client would: masked with key, in
// fragments of frag bytes (0: one frame), deflated first when compress.
func wsTestFrames(data []byte, frag int, compress bool, key [4]byte) []byte {
	payload := data
	if compress {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestSpeed)
		_, _ = fw.Write(data)
		_ = fw.Flush()
		payload = bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	}
	if frag <= 0 || frag > len(payload) {
		frag = max(len(payload), 1)
	}
	var out []byte
	for off := 0; off == 0 || off < len(payload); off += frag {
		end := min(off+frag, len(payload))
		b0 := byte(wsContinuation)
		if off == 0 {
			b0 = wsBinary
			if compress {
				b0 |= wsRsv1Bit
			}
		}
		if end == len(payload) {
			b0 |= wsFinalBit
		}
		hs := len(out)
		out = wsAppendHeader(out, b0, end-off)
		out[hs+1] |= wsMaskBit
		out = append(out, key[:]...)
		start := len(out)
		out = append(out, payload[off:end]...)
		wsUnmask(out[start:], key, 0)
	}
	return out
}

// feedWS hands b to the client's websocket reader in chunks of step bytes,
// scribbling over each chunk afterwards as the next read would.
func feedWS(c *client, b []byte, step int) error {
	step = max(step, 1)
	for off := 0; off < len(b); off += step {
		chunk := append([]byte(nil), b[off:min(off+step, len(b))]...)
		err := c.wsRead(chunk)
		for i := range chunk {
			chunk[i] = '#'
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// FuzzWebsocketFrames drives the frame decoder two ways: arbitrary bytes
// as frames must never panic or hang; and any protocol input framed in
// fragments (compressed or not), read in arbitrary pieces, must deliver
// exactly what the same input parsed directly delivers.
func FuzzWebsocketFrames(f *testing.F) {
	f.Add([]byte("PUB a 5\r\nhello\r\nPING\r\n"), uint8(3), uint8(7), false)
	f.Add([]byte("CONNECT {\"headers\":true}\r\nHPUB h 12 17\r\nNATS/1.0\r\n\r\nworld\r\nSUB x 1\r\n"), uint8(0), uint8(1), true)
	f.Add(wsTestFrames([]byte("PUB b 2\r\nhi\r\n"), 4, false, [4]byte{1, 2, 3, 4}), uint8(5), uint8(2), false)
	f.Add(wsTestFrames([]byte("PUB b 2\r\nhi\r\n"), 0, true, [4]byte{9, 8, 7, 6}), uint8(0), uint8(3), true)
	f.Add([]byte{0x89, 0x80, 0, 0, 0, 0, 0x88, 0x82, 0, 0, 0, 0, 3, 0xe8}, uint8(0), uint8(1), false)
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(0), uint8(4), true)
	h := newParseHarness(f)
	f.Fuzz(func(t *testing.T, data []byte, frag, step uint8, compress bool) {
		raw := h.newClient()
		raw.ws = &wsConn{compress: compress}
		_ = feedWS(raw, data, int(step))
		raw.closeConnection(ClientClosed)

		h.got = h.got[:0]
		plain := h.newClient()
		perr := plain.parse(append([]byte(nil), data...))
		plain.closeConnection(ClientClosed)
		want := append([]delivery(nil), h.got...)

		h.got = h.got[:0]
		c := h.newClient()
		c.ws = &wsConn{compress: compress}
		framed := wsTestFrames(data, int(frag), compress, [4]byte{step, frag, 0x5a, 0xa5})
		err := feedWS(c, framed, int(step)+int(frag))
		c.closeConnection(ClientClosed)
		sameDeliveries(t, err, perr, h.got, want)
	})
}

// sameDeliveries fails unless framed input gave what the plain parse of
// the same input gave: an error for an error, the same deliveries.
func sameDeliveries(t *testing.T, err, perr error, got, want []delivery) {
	t.Helper()
	if (err == nil) != (perr == nil) {
		t.Fatalf("framed error %v, plain error %v", err, perr)
	}
	if len(got) != len(want) {
		t.Fatalf("framed delivered %d, plain %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivery %d: framed %+v, plain %+v", i, got[i], want[i])
		}
	}
}

// The frame layer must not allocate per message: reading a batch of
// masked frames into the parser, and framing a write batch.
func TestWebsocketFrameNoAlloc(t *testing.T) {
	// No subscriber: what allocates is then the frame layer's own doing.
	s, err := NewServer(&Options{NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	c := (&parseHarness{s: s}).newClient()
	c.ws = &wsConn{}
	msgs := bytes.Repeat([]byte("PUB nobody 5\r\nhello\r\n"), 20)
	framed := wsTestFrames(msgs, 64, false, [4]byte{1, 2, 3, 4})
	buf := make([]byte, len(framed))
	reads := testing.AllocsPerRun(100, func() {
		copy(buf, framed)
		if err := c.wsRead(buf); err != nil {
			t.Fatal(err)
		}
	})
	held := [][]byte{make([]byte, 3000), make([]byte, 70000)}
	c.ws.w.limit = 1 << 20
	writes := testing.AllocsPerRun(100, func() { c.wsFrames(held) })
	if reads != 0 || writes != 0 {
		t.Fatalf("allocations: %v per read batch, %v per write batch", reads, writes)
	}
}

func TestWebsocketUnmask(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := 0; n < 40; n++ {
		for pos := 0; pos < 4; pos++ {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(i * 7)
			}
			want := make([]byte, n)
			for i := range p {
				want[i] = p[i] ^ key[(pos+i)&3]
			}
			if next := wsUnmask(p, key, pos); next != (pos+n)&3 || !bytes.Equal(p, want) {
				t.Fatalf("n=%d pos=%d: %x, want %x", n, pos, p, want)
			}
		}
	}
}
