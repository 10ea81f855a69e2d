package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzMonitorQuery feeds arbitrary query strings to every endpoint that
// parses options: each must answer 200 or 400, never panic or hang.
func FuzzMonitorQuery(f *testing.F) {
	for _, q := range []string{
		"", "sort=cid&limit=2&offset=1", "subs=detail&state=all&auth=1", "cid=1", "state=closed&sort=stop",
		"limit=abc", "sort=bogus", "test=foo.bar&subs=1", "test=foo.*", "acc=$G&subs=1", "unused=1&accs=$G,x",
		"offset=-5&limit=-1", "subs=%zz", "js-enabled-only=true",
	} {
		f.Add(q)
	}
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		f.Fatal(err)
	}
	c := &client{cid: 7, srv: s, acc: s.gacc, start: time.Now(), subs: map[string]*subscription{}}
	sub := &subscription{client: c, subject: "foo.bar", sid: "1"}
	c.subs["1"] = sub
	if err := s.gacc.sl.Insert(sub); err != nil {
		f.Fatal(err)
	}
	s.clients[c.cid] = c
	s.closed.add(&closedConn{cid: 3, reason: ClientClosed, account: "$G", subs: []closedSub{{subject: "a", sid: "2"}}})
	handlers := []http.HandlerFunc{s.handleConnz, s.handleSubsz, s.handleAccountz, s.handleAccstatz, s.handleHealthz, s.handleVarz}
	f.Fuzz(func(t *testing.T, q string) {
		for _, h := range handlers {
			w := httptest.NewRecorder()
			h(w, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/x", RawQuery: q}, Header: http.Header{}})
			if w.Code != http.StatusOK && w.Code != http.StatusBadRequest && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("query %q: status %d", q, w.Code)
			}
		}
	})
}

func TestFmtUptime(t *testing.T) {
	cases := map[time.Duration]string{
		0:                              "0s",
		59 * time.Second:               "59s",
		61 * time.Second:               "1m1s",
		3*time.Hour + 2*time.Second:    "3h0m2s",
		49*time.Hour + 61*time.Second:  "2d1h1m1s",
		400*24*time.Hour + time.Second: "1y35d0h0m1s",
		1500 * time.Millisecond:        "1s",
	}
	for d, want := range cases {
		if got := fmtUptime(d); got != want {
			t.Errorf("fmtUptime(%v) = %q, want %q", d, got, want)
		}
	}
}

// benchServer returns a server holding n idle clients with two
// subscriptions each, without sockets, for measuring the endpoints.
func benchServer(b *testing.B, n int) *Server {
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		c := &client{cid: uint64(i + 1), srv: s, acc: s.gacc, start: time.Now(), subs: map[string]*subscription{}}
		for j := 0; j < 2; j++ {
			sub := &subscription{client: c, subject: "s." + itoa(uint64(i)) + "." + itoa(uint64(j)), sid: itoa(uint64(j))}
			c.subs[sub.sid] = sub
			if err := s.gacc.sl.Insert(sub); err != nil {
				b.Fatal(err)
			}
		}
		s.clients[c.cid] = c
	}
	return s
}

func BenchmarkConnz1000(b *testing.B) {
	s := benchServer(b, 1000)
	opts := &ConnzOptions{Sort: ByOutMsgs, Subscriptions: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Connz(opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVarz(b *testing.B) {
	s := benchServer(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		s.Varz()
	}
}
