package test

import (
	"strconv"
	"testing"
	"time"
)

// Republish sends each stored message on the transformed destination, with
// the reference's headers byte for byte (observed on v2.15.2), before the
// PubAck; headers_only sends Nats-Msg-Size instead of the payload; only
// subjects matching src are republished.
func TestJetStreamRepublish(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.RP", `{"name":"RP","subjects":["rp.>"],"republish":{"src":"rp.*","dest":"out.$1"}}`)
	info := jsReq(t, nc, "$JS.API.STREAM.CREATE.RP2", `{"name":"RP2","subjects":["rp2.>"],"republish":{"dest":"out2.>","headers_only":true}}`)
	if rp := info["config"].(map[string]any)["republish"]; rp.(map[string]any)["src"] != ">" {
		t.Fatalf("default src: %v", rp)
	}
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"headers\":true,\"verbose\":false}\r\nSUB out.> 1\r\nSUB out2.> 2\r\nSUB _A.> 3\r\nPING\r\n")
	rc.expect("PONG")
	for i, tc := range []struct {
		pub, hdr, body string
		want           []string // subject|header|payload of each message, the PubAck last
	}{
		{"rp.a", "Foo: bar", "hello", []string{
			"out.a|NATS/1.0\r\nFoo: bar\r\nNats-Stream: RP\r\nNats-Subject: rp.a\r\nNats-Sequence: 1\r\nNats-Time-Stamp: T\r\nNats-Last-Sequence: 0\r\n\r\n|hello",
			`_A.0||{"stream":"RP","seq":1}`}},
		{"rp.a", "", "again", []string{
			"out.a|NATS/1.0\r\nNats-Stream: RP\r\nNats-Subject: rp.a\r\nNats-Sequence: 2\r\nNats-Time-Stamp: T\r\nNats-Last-Sequence: 1\r\n\r\n|again",
			`_A.1||{"stream":"RP","seq":2}`}},
		{"rp.b.c", "", "not matched", []string{`_A.2||{"stream":"RP","seq":3}`}},
		{"rp2.a.b", "Foo: bar", "hello", []string{
			"out2.rp2.a.b|NATS/1.0\r\nFoo: bar\r\nNats-Stream: RP2\r\nNats-Subject: rp2.a.b\r\nNats-Sequence: 1\r\nNats-Time-Stamp: T\r\nNats-Last-Sequence: 0\r\nNats-Msg-Size: 5\r\n\r\n|",
			`_A.3||{"stream":"RP2","seq":1}`}},
	} {
		inbox := "_A." + strconv.Itoa(i)
		if tc.hdr != "" {
			h := "NATS/1.0\r\n" + tc.hdr + "\r\n\r\n"
			rc.send("HPUB " + tc.pub + " " + inbox + " " + strconv.Itoa(len(h)) + " " + strconv.Itoa(len(h)+len(tc.body)) + "\r\n" + h + tc.body + "\r\n")
		} else {
			rc.send("PUB " + tc.pub + " " + inbox + " " + strconv.Itoa(len(tc.body)) + "\r\n" + tc.body + "\r\n")
		}
		for _, want := range tc.want {
			subj, h, b := readRawMsg(rc)
			if got := subj + "|" + directTimes.ReplaceAllString(h, "Nats-Time-Stamp: T") + "|" + b; got != want {
				t.Errorf("publish %d:\n got %q\nwant %q", i, got, want)
			}
		}
	}
}

// subject_transform stores messages under the transformed subject (also
// what republish reports); removing it stores subjects as published; bad
// transforms and republish configs get the reference's errors.
func TestJetStreamSubjectTransform(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	info := jsReq(t, nc, "$JS.API.STREAM.CREATE.T2", `{"name":"T2","subjects":["t2.>"],"subject_transform":{"src":"t2.*.*","dest":"y.$2.$1"},"republish":{"dest":"rp.>"}}`)
	if tr := info["config"].(map[string]any)["subject_transform"]; tr == nil {
		t.Fatalf("config: %v", info)
	}
	sub, err := nc.SubscribeSync("rp.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("t2.a.b", []byte("hello"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.T2", `{"seq":1}`)["message"].(map[string]any)
	if m["subject"] != "y.b.a" {
		t.Fatalf("stored as %v", m["subject"])
	}
	if r, err := sub.NextMsg(2 * time.Second); err != nil || r.Subject != "rp.y.b.a" || r.Header.Get("Nats-Subject") != "y.b.a" {
		t.Fatalf("republished %v %v", r, err)
	}
	jsReq(t, nc, "$JS.API.STREAM.UPDATE.T2", `{"name":"T2","subjects":["t2.>"]}`)
	if _, err := nc.Request("t2.a.b", []byte("again"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.T2", `{"seq":2}`)["message"].(map[string]any); m["subject"] != "t2.a.b" {
		t.Fatalf("after removing the transform: %v", m["subject"])
	}
	jsReq(t, nc, "$JS.API.STREAM.CREATE.T7", `{"name":"T7","subjects":["t7.>"],"subject_transform":{"dest":"z.>"}}`)
	if _, err := nc.Request("t7.q", []byte("hi"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.T7", `{"seq":1}`)["message"].(map[string]any); m["subject"] != "z.t7.q" {
		t.Fatalf("empty src: %v", m["subject"])
	}
	const e400, e500 = `{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,`, `{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,`
	for _, tc := range []struct{ xf, want string }{
		{`"subject_transform":{"src":"tx.*","dest":"y.$2"}`, e400 + `"err_code":10156,"description":"stream transform: invalid mapping destination: wildcard index out of range in $2: [2]"}}`},
		{`"subject_transform":{"src":"tx..*","dest":"y"}`, e400 + `"err_code":10155,"description":"stream transform source: invalid subject tx..*"}}`},
		{`"subject_transform":{"src":"tx.*","dest":"{{bogus(1)}}"}`, e400 + `"err_code":10156,"description":"stream transform: invalid mapping destination: unknown function in {{bogus(1)}}"}}`},
		{`"subject_transform":{"src":"tx.*","dest":"y.*"}`, e400 + `"err_code":10156,"description":"stream transform: invalid subject"}}`},
		{`"subject_transform":{"src":"tx.*","dest":"y.>"}`, e400 + `"err_code":10156,"description":"stream transform: invalid subject"}}`},
		{`"subject_transform":{"src":"tx.>","dest":"y.$1"}`, e400 + `"err_code":10156,"description":"stream transform: invalid subject"}}`},
		{`"subject_transform":{"src":"tx.*","dest":"y..z"}`, e400 + `"err_code":10156,"description":"stream transform: invalid mapping destination: invalid transform"}}`},
		{`"subject_transform":{"src":"tx.*","dest":"y.{{split(1)}}"}`, e400 + `"err_code":10156,"description":"stream transform: invalid mapping destination: not enough arguments passed to the function in {{split(1)}}"}}`},
		{`"subject_transform":{"src":"tx.*","dest":"y.{{wildcard(3)}}"}`, e400 + `"err_code":10156,"description":"stream transform: invalid mapping destination: wildcard index out of range in {{wildcard(3)}}: [3]"}}`},
		{`"republish":{"src":"tx.>","dest":"tx.x.>"}`, e500 + `"err_code":10052,"description":"stream configuration for republish destination forms a cycle"}}`},
		{`"republish":{"src":"tx.*","dest":"tx.q"}`, e500 + `"err_code":10052,"description":"stream configuration for republish destination forms a cycle"}}`},
		{`"republish":{"src":"tx.*","dest":"z.$2"}`, e500 + `"err_code":10052,"description":"stream configuration for republish with transform from 'tx.*' to 'z.$2' not valid"}}`},
		{`"republish":{"src":"tx.*","dest":"z.*"}`, e500 + `"err_code":10052,"description":"stream configuration for republish with transform from 'tx.*' to 'z.*' not valid"}}`},
	} {
		r, err := nc.Request("$JS.API.STREAM.CREATE.TX", []byte(`{"name":"TX","subjects":["tx.>"],`+tc.xf+`}`), 2*time.Second)
		if err != nil || string(r.Data) != tc.want {
			t.Errorf("%s:\n got %s %v\nwant %s", tc.xf, r.Data, err, tc.want)
		}
	}
	// Accepted as the reference does: nothing to transform or republish.
	// A destination token starting with '$' other than $<n> is literal: no
	// cycle with tx.> (nats.js "kv - republish header handling").
	for _, xf := range []string{`"subject_transform":{}`, `"subject_transform":{"src":"tx.>","dest":""}`, `"republish":{"src":"tx.>","dest":""}`,
		`"republish":{"src":">","dest":"$KV.TX.>"}`} {
		r := jsReq(t, nc, "$JS.API.STREAM.CREATE.TX", `{"name":"TX","subjects":["tx.>"],`+xf+`}`)
		if _, _, desc := apiErr(r); desc != "" {
			t.Errorf("%s: %v", xf, r)
		}
		jsReq(t, nc, "$JS.API.STREAM.DELETE.TX", "")
	}
}
