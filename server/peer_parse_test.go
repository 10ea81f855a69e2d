package server

import "testing"

// newPeerHarness is a parse harness whose connection is a peer (route,
// leaf or gateway) of kind with the fields every peer kind shares; peer
// sets the kind's own.
func newPeerHarness(t testing.TB, o *Options, kind int, proto protoHandler, peer func(s *Server, c *client)) *parseHarness {
	t.Helper()
	h := newHarnessServer(t, o)
	h.c = &client{srv: h.s, kind: kind, proto: proto, subs: map[string]*subscription{}, pcd: map[*client]struct{}{},
		headers: true, mpay: h.s.getOpts().MaxPayload, mcl: h.s.getOpts().MaxControlLine}
	h.c.pa.hdr = -1
	peer(h.s, h.c)
	return h
}

// expectAtEveryCut parses in split in two reads at every 7th byte and
// checks that every split delivers want.
func (h *parseHarness) expectAtEveryCut(t *testing.T, in string, want []delivery) {
	t.Helper()
	for cut := 0; cut <= len(in); cut += 7 {
		h.got = nil
		if err := h.feed([]byte(in[:cut]), []byte(in[cut:])); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if len(h.got) != len(want) {
			t.Fatalf("cut %d: got %d deliveries %q", cut, len(h.got), h.got)
		}
		for i := range want {
			if h.got[i] != want[i] {
				t.Fatalf("cut %d: delivery %d = %q, want %q", cut, i, h.got[i], want[i])
			}
		}
	}
}

// expectRejected parses each of bad on a fresh connection from fresh and
// fails the test for any that is accepted.
func expectRejected(t *testing.T, what string, bad []string, fresh func() *parseHarness) {
	t.Helper()
	for _, in := range bad {
		h := fresh()
		if err := h.c.parse([]byte(in)); err == nil {
			t.Errorf("%s%q: accepted", what, in)
		}
		h.s.Shutdown()
	}
}

// parseFuzzInput feeds in, split in two reads at cut, to the harness's
// connection: any error must be a protocol error (a panic fails by
// itself).
func (h *parseHarness) parseFuzzInput(t *testing.T, in []byte, cut uint8) {
	defer h.s.Shutdown()
	k := int(cut) % (len(in) + 1)
	if err := h.feed(in[:k], in[k:]); err != nil {
		if _, ok := err.(*protoErr); !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
	}
}
