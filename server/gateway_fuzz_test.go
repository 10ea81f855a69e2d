package server

import "testing"

// newGatewayHarness is a server with a gateway block and a registered
// gateway connection from cluster "Z", inbound or outbound, to drive.
func newGatewayHarness(t testing.TB, outbound bool) *parseHarness {
	o := &Options{Gateway: GatewayOpts{Name: "A", Port: RANDOM_PORT}}
	return newPeerHarness(t, o, GATEWAY, gatewayProtocol{}, func(s *Server, c *client) {
		c.gw = &gwConn{outbound: outbound, remoteName: "Z", remoteHash: gwHash("Z"), remoteID: "ZID", connected: true}
		c.gw.registered.Store(true)
	})
}

// The reply prefix tokens are the reference's (observed on v2.15.2:
// gateway "B" is b2oh2L, a server id 9KEZ88).
func TestGatewayHash(t *testing.T) {
	for name, want := range map[string]string{"B": "b2oh2L", "A": "NUmM6c",
		"NC55H5HMSBV4EPZAUOPEN7G4YPZAJLGQBFVM2A2QHF76JVWXGJ4L3XJY": "9KEZ88"} {
		if got := gwHash(name); got != want {
			t.Errorf("gwHash(%q) = %q, want %q", name, got, want)
		}
	}
	if !isGWReply("_GR_.b2oh2L.9KEZ88._INBOX.x") || isGWReply("_GR_.b2oh2L.9KEZ88.") || isGWReply("_GR_.short.x") {
		t.Fatal("isGWReply")
	}
}

// Messages from another cluster, every form and split, reach local
// subscribers with the reply as sent (internal subscribers keep the
// prefix); answers for another cluster are dropped, ours are unwrapped.
func TestGatewayParseMessageForms(t *testing.T) {
	h := newGatewayHarness(t, false)
	ours := "_GR_." + gwHash("A") + ".XXXXXX."
	in := "RMSG $G foo 2\r\nhi\r\n" +
		"RMSG $G foo reply 2\r\nhi\r\n" +
		"RMSG $G foo + reply q1 q2 2\r\nhi\r\n" +
		"RMSG $G foo | q1 2\r\nhi\r\n" +
		"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
		"RMSG $G _GR_.zzzzzz.XXXXXX.bar 2\r\nhi\r\n" + // another cluster's answer
		"RMSG $G " + ours + "bar 2\r\nhi\r\n" +
		"RMSG NOPE foo 2\r\nhi\r\nPING\r\n"
	h.expectAtEveryCut(t, in, []delivery{{"foo", "", "", "hi"}, {"foo", "reply", "", "hi"}, {"foo", "reply", "", "hi"},
		{"foo", "", "", "hi"}, {"foo", "", "NATS/1.0\r\n\r\n", "hi"}, {"bar", "", "", "hi"}})
	if told, ok := h.c.gw.told["NOPE"]; !ok || told {
		t.Fatal("no A- recorded for an unknown account")
	}
	inbound := func() *parseHarness { return newGatewayHarness(t, false) }
	expectRejected(t, "inbound ", []string{"RMSG\r\n", "RMSG $G\r\n", "RMSG $G foo x\r\n", "RMSG $G foo + r 2\r\n",
		"HMSG $G foo 5 2\r\n", "RS+ $G foo\r\n", "FOO\r\n"}, inbound)
	outbound := func() *parseHarness { return newGatewayHarness(t, true) }
	expectRejected(t, "outbound ", []string{"RS+\r\n", "RS+ $G\r\n", "RS+ $G a b c d\r\n", "A+\r\n", "A- a b\r\n",
		"RMSG $G foo 1\r\nx\r\n"}, outbound)
}

// An outbound connection tracks the remote's interest per account:
// optimistic (RS- and A- say what not to send), then interest-only after
// gateway_cmd 2 and 3, queue groups always.
func TestGatewayOutboundInterestModes(t *testing.T) {
	h := newGatewayHarness(t, true)
	g := h.c.gw
	wants := func(subject string) (bool, []string) { return g.wants("$G", subject, nil, nil) }
	if ok, _ := wants("foo"); !ok {
		t.Fatal("optimistic: an unknown account must be sent")
	}
	in := "RS- $G foo\r\nRS+ $G work grp 2\r\n"
	if err := h.c.parse([]byte(in)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := wants("foo"); ok {
		t.Fatal("optimistic: RS- must stop the subject")
	}
	if ok, qs := wants("work"); !ok || len(qs) != 1 || qs[0] != "grp" {
		t.Fatalf("optimistic: work = %v %v", ok, qs)
	}
	if _, qs := g.wants("$G", "work", []string{"grp"}, nil); len(qs) != 0 {
		t.Fatal("a queue group served locally must not be named")
	}
	h.c.parse([]byte("A- $G\r\n"))
	if ok, _ := wants("bar"); ok {
		t.Fatal("A- must stop the account")
	}
	h.c.parse([]byte("A+ $G\r\n"))
	if ok, _ := wants("bar"); !ok {
		t.Fatal("A+ must resume the account")
	}
	cmd := func(n int) string {
		return `INFO {"gateway":"Z","gateway_cmd":` + string(rune('0'+n)) + `,"gateway_cmd_payload":"JEc="}` + "\r\n"
	}
	if err := h.c.parse([]byte(cmd(2) + "RS+ $G bar.*\r\n" + cmd(3))); err != nil {
		t.Fatal(err)
	}
	if ok, _ := wants("foo"); ok {
		t.Fatal("interest-only: foo has no interest")
	}
	if ok, _ := wants("bar.x"); !ok {
		t.Fatal("interest-only: bar.* listed")
	}
	h.c.parse([]byte("RS- $G bar.*\r\n"))
	if ok, _ := wants("bar.x"); ok {
		t.Fatal("interest-only: RS- must remove")
	}
	if g.accs["$G"].mode != gwInterestOnly {
		t.Fatal("mode")
	}
}

// FuzzGatewayParser feeds arbitrary bytes, split in two reads, to an
// inbound or outbound gateway connection: no input may panic, and every
// error is a protocol error.
func FuzzGatewayParser(f *testing.F) {
	for _, seed := range []string{
		"RMSG $G foo 2\r\nhi\r\n",
		"RMSG $G foo + _GR_.abcdef.ghijkl.r q1 q2 2\r\nhi\r\n",
		"RMSG $G foo | q1 2\r\nhi\r\n",
		"HMSG $G foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"RS+ $G a.b q 3\r\nRS- $G a.b q\r\nRS+ $G >\r\nA- $G\r\nA+ $G\r\n",
		"INFO {\"gateway\":\"Z\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\nRS+ $G x\r\nINFO {\"gateway_cmd\":3,\"gateway_cmd_payload\":\"JEc=\"}\r\n",
		"CONNECT {\"gateway\":\"Z\",\"name\":\"ZID\"}\r\nPING\r\nPONG\r\n-ERR 'x'\r\n+OK\r\n",
	} {
		f.Add([]byte(seed), uint8(3), false)
		f.Add([]byte(seed), uint8(5), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8, outbound bool) {
		newGatewayHarness(t, outbound).parseFuzzInput(t, in, cut)
	})
}
