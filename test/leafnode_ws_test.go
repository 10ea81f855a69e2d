package test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// wsLeafHub runs a hub with a leaf node listener and a websocket listener
// (no TLS, compression offered).
func wsLeafHub(t *testing.T, edit func(o *server.Options)) *server.Server {
	t.Helper()
	return leafHub(t, func(o *server.Options) {
		o.Websocket.Host, o.Websocket.Port = "127.0.0.1", server.RANDOM_PORT
		o.Websocket.NoTLS, o.Websocket.Compression = true, true
		if edit != nil {
			edit(o)
		}
	})
}

// wsLeafOf runs a leaf soliciting rawURL over WebSocket.
func wsLeafOf(t *testing.T, rawURL string, edit func(r *server.RemoteLeafOpts)) *server.Server {
	t.Helper()
	return leafOf(t, 1, "", "", func(o *server.Options) {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		o.LeafNode.Remotes[0].URLs = []*url.URL{u}
		if edit != nil {
			edit(o.LeafNode.Remotes[0])
		}
	})
}

// Our leaf on our hub over ws://, with and without permessage-deflate and
// masking: messages, queue groups and requests cross both ways, and a
// payload larger than a frame's worth of chunks arrives intact.
func TestLeafWebsocketOurs(t *testing.T) {
	for _, tc := range []struct {
		name              string
		compress, noMasks bool
	}{{"plain", false, false}, {"compression", true, false}, {"no_masking", false, true}, {"both", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			hub := wsLeafHub(t, func(o *server.Options) {
				o.LeafNode.Username, o.LeafNode.Password = "lu", "lp"
			})
			leaf := wsLeafOf(t, fmt.Sprintf("ws://lu:lp@127.0.0.1:%d", hub.WebsocketAddr().Port), func(r *server.RemoteLeafOpts) {
				r.Websocket.Compression, r.Websocket.NoMasking = tc.compress, tc.noMasks
			})
			waitLeafs(t, 1, hub, leaf)
			hc, lc := connect(t, hub), connect(t, leaf)
			checkLeafPath(t, hc, lc, "ws.hub")
			checkLeafPath(t, lc, hc, "ws.leaf")
			big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB, compressible
			for _, pair := range [][2]*server.Server{{hub, leaf}, {leaf, hub}} {
				sc, pc := connect(t, pair[0]), connect(t, pair[1])
				sub, _ := sc.SubscribeSync("ws.big")
				flushed(t, sc)
				waitLeafSub(t, pair[1], "ws.big")
				pc.Publish("ws.big", big)
				flushed(t, pc)
				m, err := sub.NextMsg(5 * time.Second)
				if err != nil || !bytes.Equal(m.Data, big) {
					t.Fatalf("big message: %v (len %d)", err, len(m.Data))
				}
			}
		})
	}
}

// wss:// with a certificate the leaf verifies against its CA; a leaf
// whose CA does not know the hub's certificate never connects.
func TestLeafWebsocketTLS(t *testing.T) {
	ca, srv := leafServerCert(t, "wsleafca")
	hub := wsLeafHub(t, func(o *server.Options) {
		o.Websocket.NoTLS = false
		o.Websocket.TLS = &server.TLSConfigOpts{CertFile: srv.certFile, KeyFile: srv.keyFile}
	})
	wssURL := fmt.Sprintf("wss://127.0.0.1:%d", hub.WebsocketAddr().Port)
	leaf := wsLeafOf(t, wssURL, func(r *server.RemoteLeafOpts) {
		r.TLS = &server.TLSConfigOpts{CaFile: ca.file}
	})
	waitLeafs(t, 1, hub, leaf)
	checkLeafPath(t, connect(t, hub), connect(t, leaf), "wss.a")
	checkLeafPath(t, connect(t, leaf), connect(t, hub), "wss.b")

	other := newTestCA(t, "otherca")
	untrusting := wsLeafOf(t, wssURL, func(r *server.RemoteLeafOpts) {
		r.TLS = &server.TLSConfigOpts{CaFile: other.file}
	})
	time.Sleep(300 * time.Millisecond) // several refused attempts at 50 ms; nothing to await for a refusal
	if untrusting.NumLeafNodes() != 0 || hub.NumLeafNodes() != 1 {
		t.Fatalf("leaf with the wrong CA: leaf %d, hub %d", untrusting.NumLeafNodes(), hub.NumLeafNodes())
	}
}

// fakeWSHub accepts one connection on a listener of the test's, checks
// the leaf's upgrade request, answers it (confirming no masking when
// noMask), sends a leaf INFO and returns the first frame the leaf sends.
func fakeWSHub(t *testing.T, l net.Listener, noMask bool) (req *http.Request, b0, b1 byte, payload []byte) {
	t.Helper()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err = http.ReadRequest(br)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"
	if noMask {
		answer += "Nats-No-Masking: true\r\n"
	}
	info := []byte(`INFO {"server_id":"NFAKEHUB","server_name":"fake","version":"2.15.2","proto":3,"headers":true,"auth_required":true,"max_payload":1048576,"nonce":"abc","compression":"off"}` + " \r\n")
	frame := append([]byte{0x82, 126, byte(len(info) >> 8), byte(len(info))}, info...)
	if _, err := conn.Write(append([]byte(answer+"\r\n"), frame...)); err != nil {
		t.Fatal(err)
	}
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = int(binary.BigEndian.Uint16(ext[:]))
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		io.ReadFull(br, key[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] ^= key[i%4]
	}
	return req, h[0], h[1], payload
}

// The upgrade request is the reference's: the URL's path + /leafnode,
// credentials in CONNECT and never in HTTP; frames are masked unless the
// hub confirmed ws_no_masking.
func TestLeafWebsocketUpgradeRequest(t *testing.T) {
	for _, noMask := range []bool{false, true} {
		t.Run("no_masking="+strconv.FormatBool(noMask), func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			wsLeafOf(t, fmt.Sprintf("ws://lu:lp@%s/edge/", l.Addr()), func(r *server.RemoteLeafOpts) {
				r.Websocket.NoMasking = noMask
			})
			req, b0, b1, payload := fakeWSHub(t, l, noMask)
			if req.URL.Path != "/edge/leafnode" || req.Header.Get("Upgrade") != "websocket" ||
				req.Header.Get("Sec-WebSocket-Version") != "13" || req.Header.Get("Authorization") != "" {
				t.Fatalf("upgrade request: %s %v", req.URL.Path, req.Header)
			}
			if got := req.Header.Get("Nats-No-Masking") == "true"; got != noMask {
				t.Fatalf("Nats-No-Masking header %v, want %v", got, noMask)
			}
			if b0 != 0x82 || (b1&0x80 != 0) == noMask {
				t.Fatalf("frame header %#x %#x (no masking %v)", b0, b1, noMask)
			}
			if !bytes.HasPrefix(payload, []byte("CONNECT {")) || !bytes.Contains(payload, []byte(`"user":"lu","pass":"lp"`)) {
				t.Fatalf("first frame: %q", payload)
			}
		})
	}
}

// A websocket listener without a leaf node listener refuses leaf
// connections, as the reference does: the leaf never registers.
func TestLeafWebsocketHubWithoutLeafListener(t *testing.T) {
	o := DefaultTestOptions()
	o.Websocket.Host, o.Websocket.Port, o.Websocket.NoTLS = "127.0.0.1", server.RANDOM_PORT, true
	hub := RunServer(t, o)
	conn, err := net.DialTimeout("tcp", hub.WebsocketAddr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /leafnode HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rest, err := io.ReadAll(br)
	if len(rest) != 0 || err != nil {
		t.Fatalf("expected the connection closed without INFO, got %q %v", rest, err)
	}
}

// Interop over ws:// and wss:// with the reference: our leaf on a
// reference hub and a reference leaf on our hub, with ws_compression and
// ws_no_masking.
func TestLeafWebsocketInteropWithReference(t *testing.T) {
	ref := refBin(t)
	dir := t.TempDir()
	ca, srv := leafServerCert(t, "wsrefca")
	for _, scheme := range []string{"ws", "wss"} {
		for _, pair := range []struct{ name, hub, leaf string }{{"our_leaf", ref, serverBin}, {"ref_leaf", serverBin, ref}} {
			t.Run(scheme+"_"+pair.name, func(t *testing.T) {
				hubPort, wsPort, leafPort := freePort(t), freePort(t), freePort(t)
				wsBlock := "no_tls: true, compression: true"
				remoteTLS := ""
				if scheme == "wss" {
					wsBlock = fmt.Sprintf("tls { cert_file: %q, key_file: %q }", srv.certFile, srv.keyFile)
					remoteTLS = fmt.Sprintf(", tls { ca_file: %q }", ca.file)
				}
				hp := startBinAt(t, pair.hub, "-c", writeConf(t, dir, "hub.conf", fmt.Sprintf(
					"host: 127.0.0.1\nport: %d\nwebsocket { listen: \"127.0.0.1:%d\", %s }\n"+
						"leafnodes { listen: \"127.0.0.1:-1\", authorization { user: lu, password: lp } }\n", hubPort, wsPort, wsBlock)))
				hp.waitOutput("Server is ready")
				lp := startBinAt(t, pair.leaf, "-c", writeConf(t, dir, "leaf.conf", fmt.Sprintf(
					"host: 127.0.0.1\nport: %d\nleafnodes { reconnect: \"100ms\", remotes [ { url: \"%s://lu:lp@127.0.0.1:%d\", ws_compression: true, ws_no_masking: true %s } ] }\n",
					leafPort, scheme, wsPort, remoteTLS)))
				lp.waitOutput("lid_ws:")
				checkLeafPath(t, dialNATS(t, hubPort), dialNATS(t, leafPort), scheme+".hub")
				checkLeafPath(t, dialNATS(t, leafPort), dialNATS(t, hubPort), scheme+".leaf")
				if strings.Contains(hp.output(), "[ERR]") || strings.Contains(lp.output(), "[ERR]") {
					t.Fatalf("errors logged:\nhub:\n%s\nleaf:\n%s", hp.output(), lp.output())
				}
			})
		}
	}
}

// The remote keys of a websocket leaf: ws:// and wss:// URLs (ports 80
// and 443 by default), ws_compression and ws_no_masking.
func TestLeafWebsocketConfig(t *testing.T) {
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "wsleaf.conf", `
leafnodes { remotes [
  { urls: ["ws://hub1", "wss://hub2/path"], ws_compression: true, ws_no_masking: true }
  { url: "ws://127.0.0.1:8080" }
] }
`))
	if err != nil {
		t.Fatal(err)
	}
	r := o.LeafNode.Remotes
	if len(r) != 2 || r[0].URLs[0].Host != "hub1:80" || r[0].URLs[1].Host != "hub2:443" || r[0].URLs[1].Path != "/path" ||
		!r[0].Websocket.Compression || !r[0].Websocket.NoMasking || r[1].URLs[0].Host != "127.0.0.1:8080" || r[1].Websocket.Compression {
		t.Fatalf("parsed %+v %+v", r[0], r[1])
	}
	_, err = server.ProcessConfigFile(writeConf(t, t.TempDir(), "badws.conf", `leafnodes { remotes [ { url: "ws://h", ws_compression: "maybe" } ] }`))
	if err == nil {
		t.Fatal("ws_compression: a string was accepted")
	}
}
