package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzMetricsOptions feeds arbitrary input to both ways of asking for
// metrics: as the /metrics query string, where the answer must be 200 with
// a well-formed exposition or a 400, and as the JSON body of
// $SYS.REQ.SERVER.PING.METRICS, which must answer or fail, never panic.
func FuzzMetricsOptions(f *testing.F) {
	for _, q := range []string{
		"", "connz_detailed=1&accstatz=true&jsz=all", "jsz=none&prefix=nats", "server_label=url", "server_label=bogus",
		"prefix=9x", "connz_detailed=maybe", `{"jsz":"streams","server_label":"name"}`, `{"connz_detailed":true}`,
		`{"prefix":"a\"b"}`, "jsz=%zz", "interval=50",
	} {
		f.Add(q)
	}
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoLog: true, NoSigs: true, ServerName: "fz\"\\"})
	if err != nil {
		f.Fatal(err)
	}
	c := &client{cid: 7, srv: s, acc: s.gacc, start: time.Now(), subs: map[string]*subscription{}, host: "1.2.3.4"}
	c.opts.Name = "quote\" back\\ nl\n"
	s.clients[c.cid] = c
	f.Fuzz(func(t *testing.T, q string) {
		w := httptest.NewRecorder()
		s.handleMetrics(w, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/metrics", RawQuery: q}, Header: http.Header{}, Host: "h:1"})
		switch w.Code {
		case http.StatusOK:
			checkExposition(t, w.Body.Bytes())
		case http.StatusBadRequest:
		default:
			t.Fatalf("query %q: status %d", q, w.Code)
		}
		_, _ = sysMetrics(s, &sysRequest{body: []byte(q)})
		w = httptest.NewRecorder()
		s.handleDashboard(w, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/dashboard", RawQuery: q}, Header: http.Header{}})
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("dashboard query %q: status %d", q, w.Code)
		}
	})
}

// checkExposition is a structural check of the text format without a
// parser dependency in this package: every line is a comment or a sample
// "name{labels} value", and label values have no raw newline or quote.
func checkExposition(t *testing.T, b []byte) {
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if bytes.HasPrefix(line, []byte("# HELP ")) || bytes.HasPrefix(line, []byte("# TYPE ")) {
			continue
		}
		open, end := bytes.IndexByte(line, '{'), bytes.LastIndex(line, []byte("} "))
		if open <= 0 || end < open {
			t.Fatalf("malformed sample line %q", line)
		}
		inQuote := false
		for i := open + 1; i < end; i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				inQuote = !inQuote
			}
		}
		if inQuote {
			t.Fatalf("unbalanced quotes in %q", line)
		}
	}
}
