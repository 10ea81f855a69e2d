package server

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzConsumerAckAndPull feeds arbitrary ack reply subjects, ack bodies
// and pull request bodies to their parsers: none may panic, what an ack
// subject parses to must be what it says, and a pull request is either
// refused with a 400 status or asks for at least one message.
func FuzzConsumerAckAndPull(f *testing.F) {
	f.Add("$JS.ACK.S.C.1.2.3.1796172865744690560.0", []byte("+ACK"))
	f.Add("$JS.ACK._.ABCDEFGH.S.C.1.2.3.4.5.extra", []byte(`-NAK {"delay": 1000000000}`))
	f.Add("$JS.ACK.S.C.18446744073709551615.2.3.4.5", []byte("-NAK 5s"))
	f.Add("$JS.ACK.S.C.1.2", []byte("+NXT {\"batch\":3}"))
	f.Add("$JS.ACK..C.1.2.3.4.5", []byte("+TERM reason"))
	f.Add("$JS.ACK.S.C.-1.2.3.4.5", []byte(`{"batch":"x"}`))
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		if tk, ok := parseAckSubject(subject); ok {
			if tk.stream == "" || tk.consumer == "" || !strings.Contains(subject, "."+tk.stream+"."+tk.consumer+".") {
				t.Fatalf("%q parsed to %+v", subject, tk)
			}
			seqs := "." + strconv.FormatUint(tk.dc, 10) + "." + strconv.FormatUint(tk.sseq, 10) + "." + strconv.FormatUint(tk.cseq, 10) + "."
			if !strings.Contains(subject, seqs) {
				t.Fatalf("%q parsed to %+v", subject, tk)
			}
		}
		var item ackItem
		parseAckBody(body, &item)
		if item.kind > ackUnknown || item.delay < 0 {
			t.Fatalf("%q parsed to %+v", body, item)
		}
		req, status := parsePullRequest(body)
		if status != "" && !strings.HasPrefix(status, statusBadRequest+" - ") {
			t.Fatalf("%q: status %q", body, status)
		}
		if status == "" && req.Batch < 1 {
			t.Fatalf("%q: batch %d", body, req.Batch)
		}
	})
}

// Parsing an ack (subject and the common bodies) allocates nothing.
func TestConsumerAckParseNoAlloc(t *testing.T) {
	subj := "$JS.ACK.ORDERS.worker.1.12345.678.1796172865744690560.42"
	body := []byte("+ACK")
	var item ackItem
	allocs := testing.AllocsPerRun(1000, func() {
		tk, ok := parseAckSubject(subj)
		if !ok || tk.sseq != 12345 {
			t.Fatal("bad parse")
		}
		parseAckBody(body, &item)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per ack", allocs)
	}
}
