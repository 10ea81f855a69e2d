package test

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// readRawMsg reads one MSG or HMSG and returns its subject, header block
// and payload.
func readRawMsg(rc *rawConn) (subj, hdr, body string) {
	rc.t.Helper()
	line := rc.readLine()
	for line == "PING" {
		rc.send("PONG\r\n")
		line = rc.readLine()
	}
	f := strings.Fields(line)
	if len(f) < 4 || (f[0] != "MSG" && f[0] != "HMSG") {
		rc.t.Fatalf("expected a message, got %q", line)
	}
	total, _ := strconv.Atoi(f[len(f)-1])
	hlen := 0
	if f[0] == "HMSG" {
		hlen, _ = strconv.Atoi(f[len(f)-2])
	}
	buf := make([]byte, total+2)
	rc.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(rc.br, buf); err != nil {
		rc.t.Fatalf("read payload: %v", err)
	}
	return f[1], string(buf[:hlen]), string(buf[hlen:total])
}

var directTimes = regexp.MustCompile(`Nats-Time-Stamp: [^\r]*`)

// directReplies sends a request on a raw connection and reads n replies,
// each as "headers|payload" with the time stamps masked.
func directReplies(rc *rawConn, id int, subj, hdr, body string, n int) []string {
	rc.t.Helper()
	inbox := fmt.Sprintf("_D.%d", id)
	if hdr != "" {
		h := "NATS/1.0\r\n" + hdr + "\r\n\r\n"
		rc.send(fmt.Sprintf("HPUB %s %s %d %d\r\n%s%s\r\n", subj, inbox, len(h), len(h)+len(body), h, body))
	} else {
		rc.send(fmt.Sprintf("PUB %s %s %d\r\n%s\r\n", subj, inbox, len(body), body))
	}
	var out []string
	for range n {
		s, h, b := readRawMsg(rc)
		if s != inbox {
			rc.t.Fatalf("%s %s: reply on %s, want %s (an extra reply to an earlier request?)", subj, body, s, inbox)
		}
		out = append(out, directTimes.ReplaceAllString(h, "Nats-Time-Stamp: T")+"|"+b)
	}
	return out
}

// Stream D of the direct get tests: d.a "one" (header Foo: bar), d.b
// "two", d.a "three" (deleted), d.c "four", d.b "five".
var directMsgs = map[int][3]string{
	1: {"d.a", "one", "Foo: bar\r\n"}, 2: {"d.b", "two"}, 4: {"d.c", "four"}, 5: {"d.b", "five"},
}

// dm is the expected reply carrying message seq; pending < 0 leaves out
// the batch headers.
func dm(seq, pending, last int) string {
	m := directMsgs[seq]
	h := "NATS/1.0\r\n" + m[2] + "Nats-Stream: D\r\nNats-Subject: " + m[0] + "\r\nNats-Sequence: " + strconv.Itoa(seq) +
		"\r\nNats-Time-Stamp: T\r\n"
	if pending >= 0 {
		h += fmt.Sprintf("Nats-Num-Pending: %d\r\nNats-Last-Sequence: %d\r\n", pending, last)
	}
	return h + "\r\n|" + m[1]
}

func eob(pending, last, upTo int) string {
	h := fmt.Sprintf("NATS/1.0 204 EOB\r\nNats-Num-Pending: %d\r\nNats-Last-Sequence: %d\r\n", pending, last)
	if upTo > 0 {
		h += fmt.Sprintf("Nats-UpTo-Sequence: %d\r\n", upTo)
	}
	return h + "\r\n|"
}

func status(s string) string { return "NATS/1.0 " + s + "\r\n\r\n|" }

func setupDirectStream(t *testing.T) *rawConn {
	t.Helper()
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.D", `{"name":"D","subjects":["d.>"],"allow_direct":true}`)
	for _, m := range [][2]string{{"d.a", "one"}, {"d.b", "two"}, {"d.a", "three"}, {"d.c", "four"}, {"d.b", "five"}} {
		msg := &nats.Msg{Subject: m[0], Data: []byte(m[1])}
		if m[1] == "one" {
			msg.Header = nats.Header{"Foo": []string{"bar"}}
		}
		if _, err := nc.RequestMsg(msg, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	jsReq(t, nc, "$JS.API.STREAM.MSG.DELETE.D", `{"seq":3,"no_erase":true}`)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"headers\":true,\"verbose\":false}\r\nSUB _D.> 1\r\nPING\r\n")
	rc.expect("PONG")
	return rc
}

// Every form of DIRECT.GET answers exactly what the reference v2.15.2
// sends (observed byte for byte, time stamps masked): single gets, batches
// with their pending/last headers and max_bytes, multi_last with
// up_to_seq/up_to_time, the subject form, and the status lines.
func TestJetStreamDirectGetForms(t *testing.T) {
	rc := setupDirectStream(t)
	const api = "$JS.API.DIRECT.GET.D"
	for i, tc := range []struct {
		subj, hdr, body string
		want            []string
	}{
		{api, "", `{"seq":1,"batch":3}`, []string{dm(1, 3, 0), dm(2, 2, 1), dm(4, 1, 2), eob(1, 4, 0)}},
		{api, "", `{"seq":1,"batch":10}`, []string{dm(1, 3, 0), dm(2, 2, 1), dm(4, 1, 2), dm(5, 0, 4), eob(0, 5, 0)}},
		{api, "", `{"next_by_subj":"d.b","batch":5}`, []string{dm(2, 1, 0), dm(5, 0, 2), eob(0, 5, 0)}},
		{api, "", `{"seq":2,"batch":2,"max_bytes":5}`, []string{dm(2, 2, 0), eob(2, 2, 0)}},
		{api, "", `{"seq":2,"batch":3,"max_bytes":7}`, []string{dm(2, 2, 0), dm(4, 1, 2), eob(1, 4, 0)}},
		{api, "", `{"seq":2,"batch":3,"max_bytes":14}`, []string{dm(2, 2, 0), dm(4, 1, 2), dm(5, 0, 4), eob(0, 5, 0)}},
		{api, "", `{"seq":1,"batch":3,"max_bytes":28}`, []string{dm(1, 3, 0), eob(3, 1, 0)}},
		{api, "", `{"seq":1,"batch":3,"max_bytes":29}`, []string{dm(1, 3, 0), dm(2, 2, 1), eob(2, 2, 0)}},
		{api, "", `{"seq":3,"batch":2}`, []string{dm(4, 1, 0), dm(5, 0, 4), eob(0, 5, 0)}},
		{api, "", `{"next_by_subj":"d.b","seq":3,"batch":2}`, []string{dm(5, 0, 0), eob(0, 5, 0)}},
		{api, "", `{"next_by_subj":"d.*","start_time":"2000-01-01T00:00:00Z","batch":2}`, []string{dm(1, 3, 0), dm(2, 2, 1), eob(2, 2, 0)}},
		{api, "", `{"seq":1,"batch":-1}`, []string{eob(4, 0, 0)}},
		{api, "", `{"seq":1,"batch":2,"no_hdr":true}`, []string{"|one", "|two", eob(4, 2, 0)}},
		{api, "", `{"seq":1,"batch":2,"up_to_seq":2}`, []string{dm(1, 3, 0), dm(2, 2, 1), eob(2, 2, 0)}},
		{api, "", `{"seq":99,"batch":2}`, []string{status("404 Message Not Found")}},
		{api, "", `{"start_time":"2100-01-01T00:00:00Z","batch":2}`, []string{status("404 Message Not Found")}},
		{api, "", `{"next_by_subj":"x.y","batch":2}`, []string{status("404 Message Not Found")}},
		{api, "", `{"multi_last":["d.a","d.b"]}`, []string{dm(1, 1, 0), dm(5, 0, 1), eob(0, 5, 5)}},
		{api, "", `{"multi_last":["d.>"]}`, []string{dm(1, 2, 0), dm(4, 1, 1), dm(5, 0, 4), eob(0, 5, 5)}},
		{api, "", `{"multi_last":["d.>"],"up_to_seq":4}`, []string{dm(1, 2, 0), dm(2, 1, 1), dm(4, 0, 2), eob(0, 4, 4)}},
		{api, "", `{"multi_last":["d.>"],"up_to_seq":3}`, []string{dm(1, 1, 0), dm(2, 0, 1), eob(0, 2, 3)}},
		{api, "", `{"multi_last":["d.>"],"batch":1}`, []string{dm(1, 2, 0), eob(2, 1, 5)}},
		{api, "", `{"multi_last":["d.>"],"seq":2}`, []string{dm(4, 1, 0), dm(5, 0, 4), eob(0, 5, 5)}},
		{api, "", `{"multi_last":["d.a"],"seq":2}`, []string{eob(0, 0, 5)}},
		{api, "", `{"multi_last":["d.a","d.c"],"batch":5,"max_bytes":3}`, []string{dm(1, 1, 0), eob(1, 1, 5)}},
		{api, "", `{"multi_last":["d.a","d.c"],"no_hdr":true}`, []string{dm(1, 1, 0), dm(4, 0, 1), eob(0, 4, 5)}},
		{api, "", `{"multi_last":["d.a","d.c"],"up_to_time":"2100-01-01T00:00:00Z"}`, []string{dm(1, 1, 0), dm(4, 0, 1), eob(0, 4, 5)}},
		{api, "", `{"multi_last":["d.a"],"start_time":"2000-01-01T00:00:00Z"}`, []string{dm(1, 0, 0), eob(0, 1, 5)}},
		{api, "", `{"multi_last":["x.>"]}`, []string{status("404 No Results")}},
		{api, "", `{"multi_last":["d.>"],"up_to_time":"2000-01-01T00:00:00Z"}`, []string{status("404 No Results")}},
		{api, "", `{"multi_last":["d.>"],"up_to_seq":99}`, []string{status("404 No Results")}},
		{api, "", `{"seq":1}`, []string{dm(1, -1, 0)}},
		{api, "", `{"seq":1,"no_hdr":true}`, []string{"|one"}},
		{api, "", `{"seq":3}`, []string{status("404 Message Not Found")}},
		{api, "", `{"last_by_subj":"d.*"}`, []string{dm(5, -1, 0)}},
		{api, "", `{"seq":1,"up_to_seq":3}`, []string{dm(1, -1, 0)}},
		{api, "", `{"zzz":1,"seq":1,"max_bytes":2}`, []string{dm(1, -1, 0)}},
		{api, "", `{"last_by_subj":"d.a","batch":2}`, []string{status("408 Bad Request")}},
		{api, "", `{"next_by_subj":"d.a","multi_last":["d.a"]}`, []string{status("408 Bad Request")}},
		{api, "", `{"last_by_subj":"d.a","multi_last":["d.a"]}`, []string{status("408 Bad Request")}},
		{api, "", `{"multi_last":["d.a"],"up_to_seq":3,"up_to_time":"2000-01-01T00:00:00Z"}`, []string{status("408 Bad Request")}},
		{api, "", `{"seq":2,"start_time":"2000-01-01T00:00:00Z"}`, []string{status("408 Bad Request")}},
		{api, "", `{"batch":2}`, []string{status("408 Empty Request")}},
		{api, "", `{"up_to_seq":3}`, []string{status("408 Empty Request")}},
		{api, "", `{"multi_last":[]}`, []string{status("408 Empty Request")}},
		{api, "", ``, []string{status("408 Empty Request")}},
		{api, "", `{bad`, []string{status("408 Malformed Request")}},
		{api, "", `{"seq":"x"}`, []string{status("408 Malformed Request")}},
		{api, "Nats-Required-Api-Level: 9", `{"seq":1}`, []string{status("412 Required Api Level")}},
		{api + ".d.a", "", ``, []string{dm(1, -1, 0)}},
		{api + ".d.a", "", `{"no_hdr":true}`, []string{"|one"}},
		{api + ".d.a", "", `{"max_bytes":1}`, []string{dm(1, -1, 0)}},
		{api + ".d.a", "", `xyz`, []string{status("408 Malformed Request")}},
		{api + ".d.a", "", `{"batch":2}`, []string{status("408 Bad Request")}},
		{api + ".d.b.c", "", `{"seq":1}`, []string{status("408 Bad Request")}},
		{api + ".d.z", "", ``, []string{status("404 Message Not Found")}},
	} {
		got := directReplies(rc, i, tc.subj, tc.hdr, tc.body, len(tc.want))
		for j := range tc.want {
			if got[j] != tc.want[j] {
				t.Errorf("%s %s reply %d:\n got %q\nwant %q", tc.subj, tc.body, j, got[j], tc.want[j])
			}
		}
	}
}

// multi_last answers at most 1024 messages: beyond that the whole request
// is refused with 413, whatever the batch.
func TestJetStreamDirectGetMultiLastLimit(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.M", `{"name":"M","subjects":["m.>"],"allow_direct":true,"storage":"memory"}`)
	for i := 1; i <= 1030; i++ {
		if err := nc.Publish(fmt.Sprintf("m.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "1030 messages", func() bool {
		info := jsReq(t, nc, "$JS.API.STREAM.INFO.M", "")
		st, _ := info["state"].(map[string]any)
		return st != nil && st["messages"] == float64(1030)
	})
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"headers\":true,\"verbose\":false}\r\nSUB _D.> 1\r\nPING\r\n")
	rc.expect("PONG")
	const api = "$JS.API.DIRECT.GET.M"
	if got := directReplies(rc, 1, api, "", `{"multi_last":["m.>"],"batch":2}`, 1)[0]; got != status("413 Too Many Results") {
		t.Fatalf("got %q", got)
	}
	got := directReplies(rc, 2, api, "", `{"multi_last":["m.>"],"up_to_seq":1024,"batch":1}`, 2)
	want := "NATS/1.0\r\nNats-Stream: M\r\nNats-Subject: m.1\r\nNats-Sequence: 1\r\nNats-Time-Stamp: T\r\nNats-Num-Pending: 1023\r\nNats-Last-Sequence: 0\r\n\r\n|x"
	if got[0] != want || got[1] != eob(1023, 1, 1024) {
		t.Fatalf("got %q", got)
	}
	if got := directReplies(rc, 3, api, "", `{"multi_last":["m.>"],"up_to_seq":1025}`, 1)[0]; got != status("413 Too Many Results") {
		t.Fatalf("got %q", got)
	}
}

// A direct get for a stream that does not exist, or does not allow direct
// gets, gets the no-responders status the reference's server sends (only
// streams subscribe there), so clients fail fast instead of timing out.
func TestJetStreamDirectGetNoResponders(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.ND", `{"name":"ND","subjects":["nd"]}`)
	for _, subj := range []string{"$JS.API.DIRECT.GET.NOPE", "$JS.API.DIRECT.GET.ND", "$JS.API.DIRECT.GET.ND.nd"} {
		start := time.Now()
		if _, err := nc.Request(subj, []byte(`{"seq":1}`), 2*time.Second); err != nats.ErrNoResponders || time.Since(start) > time.Second {
			t.Errorf("%s: %v after %v", subj, err, time.Since(start))
		}
	}
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"headers\":true,\"no_responders\":true,\"verbose\":false}\r\nSUB _D.> 1\r\nPING\r\n")
	rc.expect("PONG")
	if got := directReplies(rc, 1, "$JS.API.DIRECT.GET.NOPE", "", `{"seq":1}`, 1)[0]; got != "NATS/1.0 503\r\nNats-Subject: $JS.API.DIRECT.GET.NOPE\r\n\r\n|" {
		t.Fatalf("got %q", got)
	}
}
