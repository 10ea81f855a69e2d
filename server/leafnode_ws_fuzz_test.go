package server

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"testing"
)

// FuzzWSLeafClientFrames checks the soliciting leaf's writer (the
// websocket client): any protocol input, split into two queued chunks and
// framed (masked unless no masking was agreed, compressed or not, in
// frames of a fuzzed size), read back by the accepting side's decoder in
// pieces, delivers exactly what parsing the input directly delivers.
func FuzzWSLeafClientFrames(f *testing.F) {
	f.Add([]byte("PUB a 5\r\nhello\r\nPING\r\n"), uint16(7), false, false)
	f.Add([]byte("HPUB h 12 17\r\nNATS/1.0\r\n\r\nworld\r\nPUB big 100\r\n"+string(bytes.Repeat([]byte("x"), 100))+"\r\n"), uint16(300), true, false)
	f.Add([]byte("PUB b 2\r\nhi\r\n"), uint16(1), false, true)
	f.Add([]byte("PUB c 3\r\nabc\r\n"), uint16(2), true, true)
	h := newParseHarness(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint16, compress, noMask bool) {
		h.got = h.got[:0]
		plain := h.newClient()
		perr := plain.parse(append([]byte(nil), data...))
		plain.closeConnection(ClientClosed)
		want := append([]delivery(nil), h.got...)

		w := h.newClient()
		w.ws = &wsConn{client: true, compress: compress, noMasking: noMask}
		w.wsTakeControl(false)
		w.ws.w.limit = 1 + int(split)%5000
		cut := min(int(split), len(data))
		held := [][]byte{append([]byte(nil), data[:cut]...), append([]byte(nil), data[cut:]...)}
		var framed []byte
		for _, b := range w.wsFrames(held) {
			framed = append(framed, b...)
		}

		h.got = h.got[:0]
		r := h.newClient()
		r.ws = &wsConn{compress: compress, noMasking: noMask}
		err := feedWS(r, framed, 1+int(split)%97)
		r.closeConnection(ClientClosed)
		sameDeliveries(t, err, perr, h.got, want)
	})
}

// FuzzWSLeafAnswer feeds arbitrary bytes as the hub's answer to a leaf's
// upgrade: never a panic, and only a 101 with the right accept key (and
// the upgrade headers) is taken.
func FuzzWSLeafAnswer(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	good := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"
	f.Add([]byte(good + "\r\n"))
	f.Add([]byte(good + "Nats-No-Masking: true\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n"))
	r := &RemoteLeafOpts{}
	r.Websocket.Compression, r.Websocket.NoMasking = true, true
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil {
			return
		}
		resp.Body.Close()
		ws, err := wsCheckLeafAnswer(resp, r, key)
		if err != nil {
			return
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) || !ws.client {
			t.Fatalf("accepted %d %v", resp.StatusCode, resp.Header)
		}
	})
}
