package test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Per-message stream features (TTL, delete markers, roll-ups, counters,
// retention, limits), each answer as the reference v2.15.2 gave it.

// pubRaw publishes body with headers ("K:V" pairs) and returns the reply.
func mfPub(t *testing.T, nc *nats.Conn, subj, body string, hdrs ...string) string {
	t.Helper()
	m := nats.NewMsg(subj)
	for _, kv := range hdrs {
		k, v, _ := strings.Cut(kv, ":")
		m.Header.Add(k, v)
	}
	m.Data = []byte(body)
	r, err := nc.RequestMsg(m, 2*time.Second)
	if err != nil {
		t.Fatalf("publish %s %v: %v", subj, hdrs, err)
	}
	return string(r.Data)
}

// mustCreate creates a stream from raw JSON and fails on an API error.
func mfCreate(t *testing.T, nc *nats.Conn, name, cfg string) map[string]any {
	t.Helper()
	m := jsReq(t, nc, "$JS.API.STREAM.CREATE."+name, cfg)
	if _, ec, desc := apiErr(m); ec != 0 {
		t.Fatalf("create %s: %v %s", name, ec, desc)
	}
	return m
}

// streamState returns STREAM.INFO's state.
func mfState(t *testing.T, nc *nats.Conn, name string) map[string]any {
	t.Helper()
	st, _ := jsReq(t, nc, "$JS.API.STREAM.INFO."+name, `{"subjects_filter":">"}`)["state"].(map[string]any)
	return st
}

// storedMsg returns the headers (raw) and body of a stored message.
func mfStored(t *testing.T, nc *nats.Conn, stream, req string) (hdr, body string, ok bool) {
	t.Helper()
	m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET."+stream, req)
	msg, _ := m["message"].(map[string]any)
	if msg == nil {
		return "", "", false
	}
	h, _ := base64.StdEncoding.DecodeString(mfStr(msg["hdrs"]))
	b, _ := base64.StdEncoding.DecodeString(mfStr(msg["data"]))
	return string(h), string(b), true
}

func mfStr(v any) string { s, _ := v.(string); return s }

func mfNum(m map[string]any, k string) float64 { f, _ := m[k].(float64); return f }

const errTTLInvalid = `{"error":{"code":400,"err_code":10165,"description":"invalid per-message TTL"},"stream":"%s","seq":0}`
const errTTLDisabled = `{"error":{"code":400,"err_code":10166,"description":"per-message TTL is disabled"},"stream":"%s","seq":0}`

func mfWant(format, stream string) string { return strings.ReplaceAll(format, "%s", stream) }

// Config validation and defaults of the new fields, on create and update,
// with the reference's texts and order.
func TestJetStreamMsgFeatConfig(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	for i, tc := range []struct {
		subj, body string
		errCode    float64
		desc       string
	}{
		{"CREATE.T2", `{"name":"T2","subject_delete_marker_ttl":500000000}`, 10052, "subject delete marker TTL must be at least 1 second"},
		{"CREATE.T3", `{"name":"T3","subject_delete_marker_ttl":-1}`, 10052, "subject delete marker TTL must not be negative"},
		{"CREATE.T6", `{"name":"T6","subject_delete_marker_ttl":1000000000,"pedantic":true}`, 10052, "subject delete marker cannot be set if message TTLs are disabled"},
		{"CREATE.T7", `{"name":"T7","subject_delete_marker_ttl":1000000000,"allow_msg_ttl":true,"pedantic":true}`, 10052, "subject delete marker cannot be set if roll-ups are disabled"},
		{"CREATE.C2", `{"name":"C2","allow_msg_counter":true,"discard":"new","allow_msg_ttl":true}`, 10052, "counter stream cannot use discard new"},
		{"CREATE.C3", `{"name":"C3","allow_msg_counter":true,"allow_msg_ttl":true,"retention":"interest"}`, 10052, "counter stream cannot use message TTLs"},
		{"CREATE.C4", `{"name":"C4","allow_msg_counter":true,"retention":"interest"}`, 10052, "counter stream can only use limits retention"},
		{"CREATE.C5", `{"name":"C5","allow_msg_counter":true,"subject_delete_marker_ttl":-5}`, 10052, "subject delete marker TTL must not be negative"},
		{"CREATE.D1", `{"name":"D1","subject_delete_marker_ttl":5,"deny_purge":true,"allow_rollup_hdrs":true}`, 10052, "roll-ups require the purge permission"},
		{"CREATE.D2", `{"name":"D2","discard_new_per_subject":true}`, 10052, "discard new per subject requires discard new policy to be set"},
		{"CREATE.D3", `{"name":"D3","discard_new_per_subject":true,"discard":"new"}`, 10052, "discard new per subject requires max msgs per subject > 0"},
		{"CREATE.Z1", `{"name":"Z1","sealed":true,"subjects":["a","a"]}`, 10052, "stream configuration for create can not be sealed"},
		{"CREATE.R4", `{"name":"R4","retention":"bogus"}`, 10025, `invalid JSON: can not unmarshal "\"bogus\""`},
		// Delete markers imply TTLs and roll-ups, clearing deny_purge.
		{"CREATE.M1", `{"name":"M1","subject_delete_marker_ttl":1000000000,"deny_purge":true}`, 0, ""},
		// Counters are checked before the marker defaults on create...
		{"CREATE.M2", `{"name":"M2","allow_msg_counter":true,"subject_delete_marker_ttl":1000000000}`, 0, ""},
		// ...and after them on update.
		{"UPDATE.M2", `{"name":"M2","allow_msg_counter":true,"subject_delete_marker_ttl":1000000000}`, 10052, "counter stream cannot use message TTLs"},
		{"UPDATE.M1", `{"name":"M1"}`, 10052, "message TTL status can not be disabled"},
		{"CREATE.U2", `{"name":"U2","allow_msg_counter":true}`, 0, ""},
		{"UPDATE.U2", `{"name":"U2"}`, 10052, "stream configuration update can not change message counter setting"},
		{"CREATE.X2", `{"name":"X2","deny_purge":true}`, 0, ""},
		{"UPDATE.X2", `{"name":"X2","deny_purge":true,"subject_delete_marker_ttl":2000000000}`, 10052, "stream configuration update can not cancel deny purge"},
		{"CREATE.X4", `{"name":"X4","allow_msg_ttl":true,"storage":"memory"}`, 0, ""},
		{"UPDATE.X4", `{"name":"X4","storage":"file","max_age":-1}`, 10052, "max age can not be negative"},
		{"UPDATE.X4", `{"name":"X4","storage":"file","allow_msg_counter":true}`, 10052, "stream configuration update can not change storage type"},
		{"UPDATE.X4", `{"name":"X4","storage":"memory","allow_msg_counter":true}`, 10052, "message TTL status can not be disabled"},
		{"CREATE.R1", `{"name":"R1","retention":"interest"}`, 0, ""},
		{"UPDATE.R1", `{"name":"R1","retention":"workqueue"}`, 10052, "stream configuration update can not change retention policy to/from workqueue"},
		{"UPDATE.R1", `{"name":"R1","retention":"limits"}`, 0, ""},
		{"CREATE.W1", `{"name":"W1","retention":"workqueue","max_msgs_per_subject":1,"discard":"new","discard_new_per_subject":true,"subjects":["w1.*"]}`, 0, ""},
	} {
		m := jsReq(t, nc, "$JS.API.STREAM."+tc.subj, tc.body)
		_, ec, desc := apiErr(m)
		if ec != tc.errCode || desc != tc.desc {
			t.Fatalf("%d %s %s: got %v %q, want %v %q", i, tc.subj, tc.body, ec, desc, tc.errCode, tc.desc)
		}
	}
	cfg := jsReq(t, nc, "$JS.API.STREAM.INFO.M1", "")["config"].(map[string]any)
	md := cfg["metadata"].(map[string]any)
	if cfg["allow_msg_ttl"] != true || cfg["allow_rollup_hdrs"] != true || cfg["deny_purge"] != false ||
		md["_nats.req.level"] != "1" || mfNum(cfg, "subject_delete_marker_ttl") != 1e9 {
		t.Fatalf("marker defaults: %v", cfg)
	}
	cfg = jsReq(t, nc, "$JS.API.STREAM.INFO.U2", "")["config"].(map[string]any)
	if cfg["allow_msg_counter"] != true || cfg["metadata"].(map[string]any)["_nats.req.level"] != "2" {
		t.Fatalf("counter config: %v", cfg)
	}
	if cfg := jsReq(t, nc, "$JS.API.STREAM.INFO.R1", "")["config"].(map[string]any); cfg["retention"] != "limits" {
		t.Fatalf("retention back to limits: %v", cfg)
	}
}

// Nats-TTL forms as the reference parses them, and its errors.
func TestJetStreamMsgTTLHeader(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "TT", `{"name":"TT","subjects":["tt.>"],"allow_msg_ttl":true}`)
	mfCreate(t, nc, "TN", `{"name":"TN","subjects":["tn.>"]}`)
	seq := 0
	for _, tc := range []struct {
		stream, ttl string
		wantErr     string
	}{
		{"TT", "5s", ""}, {"TT", "1m", ""}, {"TT", "never", ""}, {"TT", "NEVER", ""}, {"TT", "10", ""},
		{"TT", "1.5s", ""}, {"TT", ".5m", ""}, {"TT", "1000ms", ""}, {"TT", "09", ""}, {"TT", "00", ""},
		{"TT", "9223372036854775807", ""}, {"TT", "99999999999999999999", ""},
		{"TT", "500ms", errTTLInvalid}, {"TT", "999ms", errTTLInvalid}, {"TT", "0", errTTLInvalid},
		{"TT", "0s", errTTLInvalid}, {"TT", "abc", errTTLInvalid}, {"TT", "-1", errTTLInvalid},
		{"TT", "-1s", errTTLInvalid}, {"TT", "+5", errTTLInvalid}, {"TT", "5S", errTTLInvalid},
		{"TT", "1_0", errTTLInvalid}, {"TT", "9223372036854775808", errTTLInvalid},
		{"TN", "5s", errTTLDisabled}, {"TN", "never", errTTLDisabled}, {"TN", "abc", errTTLInvalid},
	} {
		got := mfPub(t, nc, strings.ToLower(tc.stream)+".a", "x", "Nats-TTL:"+tc.ttl)
		if tc.wantErr != "" {
			if got != mfWant(tc.wantErr, tc.stream) {
				t.Fatalf("TTL %q on %s: %s", tc.ttl, tc.stream, got)
			}
			continue
		}
		seq++
		if got != `{"stream":"TT","seq":`+mfItoa(seq)+`}` {
			t.Fatalf("TTL %q: %s", tc.ttl, got)
		}
	}
	// An empty header is no TTL; "00" is accepted even without TTLs.
	if got := mfPub(t, nc, "tn.a", "x", "Nats-TTL:"); got != `{"stream":"TN","seq":1}` {
		t.Fatal(got)
	}
	if got := mfPub(t, nc, "tn.a", "x", "Nats-TTL:00"); got != `{"stream":"TN","seq":2}` {
		t.Fatal(got)
	}
	if hdr, _, _ := mfStored(t, nc, "TT", `{"seq":1}`); hdr != "NATS/1.0\r\nNats-TTL: 5s\r\n\r\n" {
		t.Fatalf("stored header %q", hdr)
	}
}

func mfItoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A TTL removes its message; "never" outlives max_age, a TTL does not.
func TestJetStreamMsgTTLExpiry(t *testing.T) {
	t.Parallel() // waits on expiry
	js, nc, ctx := jsCtx(t)
	mfCreate(t, nc, "NV", `{"name":"NV","subjects":["nv.>"],"max_age":300000000,"allow_msg_ttl":true,"storage":"memory"}`)
	mfCreate(t, nc, "EX", `{"name":"EX","subjects":["ex.>"],"allow_msg_ttl":true}`)
	for _, p := range []struct{ subj, ttl string }{{"nv.a", "never"}, {"nv.b", ""}, {"nv.c", "10s"}, {"ex.a", "1s"}, {"ex.b", ""}} {
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: p.subj, Header: nats.Header{"Nats-TTL": []string{p.ttl}}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 3*time.Second, "max_age and TTL expiry", func() bool {
		return mfNum(mfState(t, nc, "NV"), "messages") == 1 && mfNum(mfState(t, nc, "EX"), "messages") == 1
	})
	if st := mfState(t, nc, "NV"); st["subjects"].(map[string]any)["nv.a"] != 1.0 {
		t.Fatalf("never kept: %v", st)
	}
	if st := mfState(t, nc, "EX"); st["subjects"].(map[string]any)["ex.b"] != 1.0 || mfNum(st, "first_seq") != 2 {
		t.Fatalf("TTL expiry: %v", st)
	}
}

const markerHdr = "NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: %s\r\nNats-Rollup: sub\r\n\r\n"

// When max_age or a TTL removes a subject's last message, a marker with
// the reference's headers takes its place for subject_delete_marker_ttl.
func TestJetStreamSubjectDeleteMarkers(t *testing.T) {
	t.Parallel() // waits on expiry
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "SD", `{"name":"SD","subjects":["sd.>"],"max_age":1000000000,"subject_delete_marker_ttl":1000000000}`)
	mfCreate(t, nc, "SE", `{"name":"SE","subjects":["se.>"],"subject_delete_marker_ttl":1000000000,"storage":"memory"}`)
	mfPub(t, nc, "sd.a", "x")
	mfPub(t, nc, "sd.b", "y")
	mfPub(t, nc, "sd.b", "z", "Nats-Msg-Id:m1")
	mfPub(t, nc, "se.a", "x", "Nats-TTL:1s")
	mfPub(t, nc, "se.b", "x", "Nats-TTL:1s")
	mfPub(t, nc, "se.b", "y")
	waitFor(t, 4*time.Second, "markers", func() bool {
		return mfNum(mfState(t, nc, "SD"), "last_seq") == 5 && mfNum(mfState(t, nc, "SE"), "last_seq") == 4
	})
	for _, c := range []struct{ stream, req, subj string }{
		{"SD", `{"seq":4}`, "sd.a"}, {"SD", `{"seq":5}`, "sd.b"}, {"SE", `{"seq":4}`, "se.a"},
	} {
		raw := jsReq(t, nc, "$JS.API.STREAM.MSG.GET."+c.stream, c.req)
		m, _ := raw["message"].(map[string]any)
		if m == nil {
			t.Fatalf("%s %s: %v %v", c.stream, c.req, raw, mfState(t, nc, c.stream))
		}
		hdr, body, _ := mfStored(t, nc, c.stream, c.req)
		if m["subject"] != c.subj || hdr != strings.Replace(markerHdr, "%s", "1s", 1) || body != "" {
			t.Fatalf("%s %s: %v %q %q", c.stream, c.req, m["subject"], hdr, body)
		}
	}
	// se.b still has a message: no marker for it. Markers expire without
	// leaving markers behind.
	waitFor(t, 4*time.Second, "markers to expire", func() bool {
		return mfNum(mfState(t, nc, "SD"), "messages") == 0 && mfNum(mfState(t, nc, "SE"), "messages") == 1
	})
	if st := mfState(t, nc, "SD"); mfNum(st, "last_seq") != 5 || mfNum(st, "first_seq") != 6 {
		t.Fatalf("after markers: %v", st)
	}
	if st := mfState(t, nc, "SE"); mfNum(st, "last_seq") != 4 || mfNum(st, "num_deleted") != 1 {
		t.Fatalf("after markers: %v", st)
	}
}

// A TTL below the marker TTL is raised to it, the header rewritten in
// seconds at the end; not with one message per subject.
func TestJetStreamTTLRaisedToMarker(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "SF", `{"name":"SF","subjects":["sf.>"],"subject_delete_marker_ttl":90000000000}`)
	mfCreate(t, nc, "SG", `{"name":"SG","subjects":["sg.>"],"subject_delete_marker_ttl":90000000000,"max_msgs_per_subject":1}`)
	mfPub(t, nc, "sf.a", "x", "Nats-TTL:2s", "X:y")
	mfPub(t, nc, "sf.a", "x", "Nats-TTL:100s")
	mfPub(t, nc, "sf.a", "x", "Nats-TTL:never")
	mfPub(t, nc, "sg.a", "x", "Nats-TTL:2s")
	for _, c := range []struct{ stream, seq, hdr string }{
		{"SF", "1", "NATS/1.0\r\nX: y\r\nNats-TTL: 90\r\n\r\n"},
		{"SF", "2", "NATS/1.0\r\nNats-TTL: 100s\r\n\r\n"},
		{"SF", "3", "NATS/1.0\r\nNats-TTL: never\r\n\r\n"},
		{"SG", "1", "NATS/1.0\r\nNats-TTL: 2s\r\n\r\n"},
	} {
		if hdr, _, _ := mfStored(t, nc, c.stream, `{"seq":`+c.seq+`}`); hdr != c.hdr {
			t.Fatalf("%s %s: %q", c.stream, c.seq, hdr)
		}
	}
}

// Nats-Rollup: sub and all, in any case; its errors.
func TestJetStreamRollup(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "RU", `{"name":"RU","subjects":["ru.>"],"allow_rollup_hdrs":true,"deny_delete":true}`)
	mfCreate(t, nc, "RN", `{"name":"RN","subjects":["rn.>"]}`)
	mfCreate(t, nc, "RV", `{"name":"RV","subjects":["rv.>"],"allow_rollup_hdrs":true,"discard":"new","max_msgs":2}`)
	for _, p := range []struct{ subj, rollup string }{{"ru.a", ""}, {"ru.a", ""}, {"ru.b", ""}, {"ru.a", "sub"}} {
		mfPub(t, nc, p.subj, "x", "Nats-Rollup:"+p.rollup)
	}
	if st := mfState(t, nc, "RU"); mfNum(st, "messages") != 2 || mfNum(st, "first_seq") != 3 || mfNum(st, "last_seq") != 4 {
		t.Fatalf("rollup sub: %v", st)
	}
	mfPub(t, nc, "ru.c", "x")
	if got := mfPub(t, nc, "ru.b", "x", "Nats-Rollup:All"); got != `{"stream":"RU","seq":6}` {
		t.Fatal(got)
	}
	if st := mfState(t, nc, "RU"); mfNum(st, "messages") != 1 || mfNum(st, "first_seq") != 6 {
		t.Fatalf("rollup all: %v", st)
	}
	for _, c := range []struct{ subj, hdr, want string }{
		{"ru.a", "Nats-Rollup:bogus", `{"error":{"code":500,"err_code":10111,"description":"rollup value invalid: \"bogus\""},"stream":"RU","seq":0}`},
		{"ru.a", "Nats-Rollup:SUB", `{"stream":"RU","seq":7}`},
		{"rn.a", "Nats-Rollup:sub", `{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"RN","seq":0}`},
		{"rn.a", "Nats-Rollup:bogus", `{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"RN","seq":0}`},
		{"rn.a", "Nats-Rollup:", `{"stream":"RN","seq":1}`},
		{"rv.a", "X:1", `{"stream":"RV","seq":1}`},
		{"rv.b", "X:1", `{"stream":"RV","seq":2}`},
		// A limit refuses the roll-up before it purges anything.
		{"rv.a", "Nats-Rollup:all", `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"RV","seq":0}`},
	} {
		if got := mfPub(t, nc, c.subj, "x", c.hdr); got != c.want {
			t.Fatalf("%s %s: %s", c.subj, c.hdr, got)
		}
	}
	if st := mfState(t, nc, "RV"); mfNum(st, "messages") != 2 {
		t.Fatalf("refused rollup purged: %v", st)
	}
}

// Nats-Incr: big integers, the PubAck's val, the stored body, the errors.
func TestJetStreamCounters(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "CN", `{"name":"CN","subjects":["cn.>"],"allow_msg_counter":true}`)
	mfCreate(t, nc, "CO", `{"name":"CO","subjects":["co.>"]}`)
	e := func(code, errCode, desc, stream string) string {
		return `{"error":{"code":` + code + `,"err_code":` + errCode + `,"description":"` + desc + `"},"stream":"` + stream + `","seq":0}`
	}
	invalid := e("400", "10171", "message counter increment is invalid", "CN")
	for i, c := range []struct{ subj, body, want string }{
		{"cn.a", "", `{"stream":"CN","seq":1,"val":"1"}`},
		{"cn.a", "", `{"stream":"CN","seq":2,"val":"6"}`},
		{"cn.a", "", `{"stream":"CN","seq":3,"val":"-4"}`},
		{"cn.a", "", `{"stream":"CN","seq":4,"val":"99999999999999999999999999999999999995"}`},
		{"cn.a", "", `{"stream":"CN","seq":5,"val":"100000000000000000000000000000000000002"}`},
		{"cn.a", "", invalid}, {"cn.a", "", invalid}, {"cn.a", "", invalid},
		{"cn.a", "", e("400", "10169", "message counter increment is missing", "CN")},
		{"cn.a", "x", e("400", "10170", "message counter has payload", "CN")},
		{"cn.a", "x", e("400", "10169", "message counter increment is missing", "CN")},
		{"cn.a", "", invalid}, {"cn.a", "", invalid}, {"cn.a", "", invalid},
		{"cn.a", "", e("400", "10166", "per-message TTL is disabled", "CN")},
		{"cn.a", "", e("500", "10111", "rollup not permitted", "CN")},
		{"cn.a", "", `{"stream":"CN","seq":6,"val":"100000000000000000000000000000000000003"}`},
		{"cn.a", "", `{"stream":"CN","seq":6,"duplicate": true}`},
		{"cn.b", "", `{"stream":"CN","seq":7,"val":"-3"}`},
		{"co.a", "", e("400", "10168", "message counters is disabled", "CO")},
		{"co.a", "x", e("400", "10168", "message counters is disabled", "CO")},
		{"co.a", "", e("400", "10171", "message counter increment is invalid", "CO")},
	} {
		hdrs := [][]string{
			{"Nats-Incr:1"}, {"Nats-Incr:+5"}, {"Nats-Incr:-10"}, {"Nats-Incr:99999999999999999999999999999999999999"},
			{"Nats-Incr:007"}, {"Nats-Incr:1.5"}, {"Nats-Incr:0x10"}, {"Nats-Incr:1_000"}, {"Nats-Incr:"},
			{"Nats-Incr:1"}, nil, {"Nats-Incr:1", "Nats-Rollup:sub"}, {"Nats-Incr:1", "Nats-Expected-Last-Sequence:5"},
			{"Nats-Incr:1", "Nats-Expected-Last-Subject-Sequence-Subject:x"}, {"Nats-Incr:1", "Nats-TTL:5s"},
			{"Nats-Rollup:sub"}, {"Nats-Incr:1", "Nats-Msg-Id:x1"}, {"Nats-Incr:1", "Nats-Msg-Id:x1"},
			{"Nats-Incr:-3"}, {"Nats-Incr:1"}, {"Nats-Incr:1"}, {"Nats-Incr:abc"},
		}[i]
		if got := mfPub(t, nc, c.subj, c.body, hdrs...); got != c.want {
			t.Fatalf("%d %s %v: %s", i, c.subj, hdrs, got)
		}
	}
	hdr, body, _ := mfStored(t, nc, "CN", `{"last_by_subj":"cn.b"}`)
	if hdr != "NATS/1.0\r\nNats-Incr: -3\r\n\r\n" || body != `{"val":"-3"}` {
		t.Fatalf("stored counter %q %q", hdr, body)
	}
	// nats.go reads the value from the PubAck.
	js, _ := jetstream.New(nc)
	ack, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: "cn.b", Header: nats.Header{"Nats-Incr": []string{"10"}}})
	if err != nil || ack.Sequence != 8 || ack.Value != "7" {
		t.Fatalf("nats.go counter ack %+v %v", ack, err)
	}
}

// The order in which the publish path checks feature headers against the
// Nats-Expected-* headers and the duplicate window.
func TestJetStreamFeatureHeaderOrder(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "TN", `{"name":"TN","subjects":["tn.>"]}`)
	mfCreate(t, nc, "TT", `{"name":"TT","subjects":["tt.>"],"allow_msg_ttl":true}`)
	mfCreate(t, nc, "CN", `{"name":"CN","subjects":["cn.>"],"allow_msg_counter":true}`)
	mfPub(t, nc, "tn.a", "", "Nats-Msg-Id:dd")
	mfPub(t, nc, "cn.a", "", "Nats-Incr:1", "Nats-Msg-Id:x1")
	const (
		ttlDis  = `{"error":{"code":400,"err_code":10166,"description":"per-message TTL is disabled"},"stream":"TN","seq":0}`
		incrDis = `{"error":{"code":400,"err_code":10168,"description":"message counters is disabled"},"stream":"TN","seq":0}`
		incrBad = `{"error":{"code":400,"err_code":10171,"description":"message counter increment is invalid"},"stream":"TN","seq":0}`
		rollNo  = `{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"TN","seq":0}`
		wrongSt = `{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"TN","seq":0}`
		dupDD   = `{"stream":"TN","seq":1,"duplicate": true}`
		srcHdr  = `{"error":{"code":400,"err_code":10227,"description":"message stream source header is not allowed"},"stream":"TN","seq":0}`
		seqMiss = `{"error":{"code":400,"err_code":10193,"description":"missing sequence for expected last sequence per subject"},"stream":"TN","seq":0}`
	)
	for _, c := range []struct {
		subj string
		hdrs []string
		want string
	}{
		{"tn.a", []string{"Nats-TTL:abc", "Nats-Incr:abc"}, incrBad},
		{"tn.a", []string{"Nats-TTL:5s", "Nats-Incr:1"}, incrDis},
		{"tn.a", []string{"Nats-Rollup:sub", "Nats-TTL:5s"}, ttlDis},
		{"tn.a", []string{"Nats-Rollup:sub", "Nats-TTL:abc"}, rollNo},
		{"tn.a", []string{"Nats-Expected-Stream:X", "Nats-TTL:abc"}, wrongSt},
		{"tn.a", []string{"Nats-Expected-Stream:X", "Nats-Incr:1"}, incrDis},
		{"tn.a", []string{"Nats-Msg-Id:dd", "Nats-TTL:abc"}, dupDD},
		{"tn.a", []string{"Nats-Msg-Id:dd", "Nats-Rollup:sub"}, dupDD},
		{"tn.a", []string{"Nats-Msg-Id:dd", "Nats-TTL:5s"}, ttlDis},
		{"tn.a", []string{"Nats-Expected-Last-Sequence:99", "Nats-TTL:5s"}, ttlDis},
		{"tt.a", []string{"Nats-Expected-Last-Sequence:99", "Nats-TTL:abc"}, `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 0"},"stream":"TT","seq":0}`},
		{"tt.a", []string{"Nats-TTL:5s", "Nats-Rollup:sub"}, `{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"TT","seq":0}`},
		{"cn.a", []string{"Nats-Msg-Id:x1"}, `{"stream":"CN","seq":1,"duplicate": true}`},
		{"cn.a", []string{"Nats-TTL:abc"}, `{"error":{"code":400,"err_code":10169,"description":"message counter increment is missing"},"stream":"CN","seq":0}`},
		// Nats-Stream-Source is the server's (API level 5), and the subject
		// of Nats-Expected-Last-Subject-Sequence needs the sequence.
		{"tn.a", []string{"Nats-Stream-Source:foo 1 > > tn.a"}, srcHdr},
		{"tn.a", []string{"Nats-Stream-Source:"}, `{"stream":"TN","seq":2}`},
		{"tn.a", []string{"Nats-Msg-Id:dd", "Nats-Stream-Source:foo"}, srcHdr},
		{"tn.a", []string{"Nats-Stream-Source:foo", "Nats-Expected-Stream:X"}, wrongSt},
		{"tn.a", []string{"Nats-Stream-Source:foo", "Nats-TTL:5s"}, ttlDis},
		{"tn.a", []string{"Nats-Stream-Source:foo", "Nats-Rollup:sub"}, srcHdr},
		{"tn.a", []string{"Nats-Expected-Last-Subject-Sequence-Subject:tn.b"}, seqMiss},
		{"tn.a", []string{"Nats-Expected-Last-Subject-Sequence-Subject:"}, `{"stream":"TN","seq":3}`},
		{"tn.a", []string{"Nats-Expected-Last-Subject-Sequence-Subject:tn.b", "Nats-Stream-Source:foo"}, seqMiss},
		{"tn.a", []string{"Nats-Expected-Last-Subject-Sequence-Subject:tn.b", "Nats-Msg-Id:dd"}, seqMiss},
		{"tn.a", []string{"Nats-Expected-Last-Subject-Sequence-Subject:tn.b", "Nats-Expected-Stream:X"}, wrongSt},
	} {
		if got := mfPub(t, nc, c.subj, "", c.hdrs...); got != c.want {
			t.Fatalf("%s %v: %s", c.subj, c.hdrs, got)
		}
	}
}

// Interest retention keeps nothing without consumers (sequences move on),
// switching to interest drops what is stored, workqueue keeps messages.
func TestJetStreamInterestRetentionWithoutConsumers(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "R1", `{"name":"R1","retention":"interest"}`)
	mfCreate(t, nc, "R2", `{"name":"R2","retention":"workqueue"}`)
	mfCreate(t, nc, "Y1", `{"name":"Y1"}`)
	for _, subj := range []string{"R1", "R1", "R2", "R2", "Y1", "Y1"} {
		mfPub(t, nc, subj, "a")
	}
	if got := mfPub(t, nc, "R1", "c", "Nats-Msg-Id:i1"); got != `{"stream":"R1","seq":3}` {
		t.Fatal(got)
	}
	if got := mfPub(t, nc, "R1", "c", "Nats-Msg-Id:i1"); got != `{"stream":"R1","seq":3,"duplicate": true}` {
		t.Fatal(got)
	}
	for _, c := range []struct {
		name              string
		msgs, first, last float64
	}{{"R1", 0, 4, 3}, {"R2", 2, 1, 2}, {"Y1", 2, 1, 2}} {
		st := mfState(t, nc, c.name)
		if mfNum(st, "messages") != c.msgs || mfNum(st, "first_seq") != c.first || mfNum(st, "last_seq") != c.last {
			t.Fatalf("%s: %v", c.name, st)
		}
	}
	m := jsReq(t, nc, "$JS.API.STREAM.UPDATE.Y1", `{"name":"Y1","retention":"interest"}`)
	if st := m["state"].(map[string]any); mfNum(st, "messages") != 0 || mfNum(st, "first_seq") != 3 || mfNum(st, "last_seq") != 2 {
		t.Fatalf("update to interest: %v", m)
	}
	jsReq(t, nc, "$JS.API.STREAM.UPDATE.Y1", `{"name":"Y1","retention":"limits"}`)
	if got := mfPub(t, nc, "Y1", "d"); got != `{"stream":"Y1","seq":3}` {
		t.Fatal(got)
	}
	if st := mfState(t, nc, "Y1"); mfNum(st, "messages") != 1 {
		t.Fatalf("back to limits: %v", st)
	}
}

// Limits and discard policies through nats.go: the PubAck errors and the
// stream state, as the reference answers.
func TestJetStreamLimitsAndDiscard(t *testing.T) {
	js, nc, ctx := jsCtx(t)
	type pub struct {
		subj    string
		errDesc string // "" for stored
	}
	const (
		maxMsgs  = "maximum messages exceeded"
		maxBytes = "maximum bytes exceeded"
		maxPer   = "maximum messages per subject exceeded"
		tooBig   = "message size exceeds maximum allowed"
	)
	// max_bytes is expressed in messages of this test's size.
	mfCreate(t, nc, "SZ", `{"name":"SZ","subjects":["z.*"]}`)
	if _, err := js.Publish(ctx, "z.a", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	one := int64(mfNum(mfState(t, nc, "SZ"), "bytes"))
	for _, tc := range []struct {
		name  string
		cfg   jetstream.StreamConfig
		pubs  []pub
		msgs  uint64
		first uint64
	}{
		{"max_msgs old", jetstream.StreamConfig{MaxMsgs: 2}, []pub{{"a", ""}, {"a", ""}, {"b", ""}}, 2, 2},
		{"max_msgs new", jetstream.StreamConfig{MaxMsgs: 2, Discard: jetstream.DiscardNew}, []pub{{"a", ""}, {"a", ""}, {"b", maxMsgs}}, 2, 1},
		{"max_bytes new", jetstream.StreamConfig{MaxBytes: 2*one + one/2, Discard: jetstream.DiscardNew}, []pub{{"a", ""}, {"a", ""}, {"a", maxBytes}, {"a", maxBytes}}, 2, 1},
		{"max_bytes old", jetstream.StreamConfig{MaxBytes: 2*one + one/2}, []pub{{"a", ""}, {"a", ""}, {"a", ""}, {"a", ""}}, 2, 3},
		{"max_bytes below one", jetstream.StreamConfig{MaxBytes: 10, Discard: jetstream.DiscardNew}, []pub{{"a", maxBytes}}, 0, 0},
		{"per subject old", jetstream.StreamConfig{MaxMsgsPerSubject: 2}, []pub{{"a", ""}, {"a", ""}, {"a", ""}, {"b", ""}}, 3, 2},
		{"per subject, discard new", jetstream.StreamConfig{MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew}, []pub{{"a", ""}, {"a", ""}, {"b", ""}}, 2, 2},
		{"discard new per subject", jetstream.StreamConfig{MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true}, []pub{{"a", ""}, {"a", maxPer}, {"b", ""}}, 2, 1},
		{"per subject then max_msgs", jetstream.StreamConfig{MaxMsgsPerSubject: 2, MaxMsgs: 3, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true},
			[]pub{{"a", ""}, {"a", ""}, {"a", maxPer}, {"b", ""}, {"b", maxMsgs}}, 3, 1},
		{"max_msg_size", jetstream.StreamConfig{MaxMsgSize: 5}, []pub{{"a", tooBig}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name, tc.cfg.Subjects = "L", []string{"l.*"}
			st, err := js.CreateStream(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer js.DeleteStream(ctx, "L")
			for i, p := range tc.pubs {
				_, err := js.Publish(ctx, "l."+p.subj, []byte("0123456789"))
				var apiErr *jetstream.APIError
				switch {
				case p.errDesc == "" && err != nil:
					t.Fatalf("publish %d: %v", i, err)
				case p.errDesc != "" && (!errors.As(err, &apiErr) || apiErr.Description != p.errDesc ||
					apiErr.ErrorCode != map[bool]jetstream.ErrorCode{true: 10054, false: 10077}[p.errDesc == tooBig]):
					t.Fatalf("publish %d: %v, want %q", i, err, p.errDesc)
				}
			}
			info, err := st.Info(ctx)
			if err != nil || info.State.Msgs != tc.msgs || (tc.msgs > 0 && info.State.FirstSeq != tc.first) {
				t.Fatalf("state %+v %v", info.State, err)
			}
		})
	}
	// max_age removes messages once they are older.
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AGE", Subjects: []string{"age"}, MaxAge: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	js.Publish(ctx, "age", nil)
	waitFor(t, 3*time.Second, "max_age", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0 && info.State.LastSeq == 1
	})
}

// TTLs and "never" are kept in the store: after a kill -9 a TTL still
// expires on time and "never" still outlives max_age.
func TestJetStreamMsgTTLSurvivesRestart(t *testing.T) {
	t.Parallel() // waits on expiry
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n",
		port, filepath.Join(dir, "store")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, js := startJSBin(t, conf, port)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TA", Subjects: []string{"ta.*"}, AllowMsgTTL: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TB", Subjects: []string{"tb.*"}, AllowMsgTTL: true, MaxAge: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TC", Subjects: []string{"tc.*"}, MaxAge: time.Second, SubjectDeleteMarkerTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	published := time.Now()
	for _, m := range []struct{ subj, ttl string }{{"ta.a", "3s"}, {"ta.b", ""}, {"tb.a", "never"}, {"tb.b", ""}, {"tc.a", ""}} {
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: m.subj, Header: nats.Header{"Nats-TTL": []string{m.ttl}}}); err != nil {
			t.Fatal(err)
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(5 * time.Second)
	// TC's message expires while the server is down: recovery removes it
	// and leaves its marker.
	waitFor(t, 3*time.Second, "TC's max_age to pass", func() bool { return time.Since(published) > 1200*time.Millisecond })

	_, js = startJSBin(t, conf, port)
	tc, err := js.Stream(ctx, "TC")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the marker written at recovery", func() bool {
		m, err := tc.GetMsg(ctx, 2)
		return err == nil && m.Subject == "tc.a" && m.Header.Get("Nats-Marker-Reason") == "MaxAge" && m.Header.Get("Nats-TTL") == "1m0s"
	})
	msgs := func(name string) uint64 {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.Msgs
	}
	if time.Since(published) < 3*time.Second && msgs("TA") != 2 {
		t.Fatalf("TA after restart: %d messages", msgs("TA"))
	}
	waitFor(t, 8*time.Second, "the TTL to expire after the restart", func() bool { return msgs("TA") == 1 })
	if time.Since(published) < 3*time.Second {
		t.Fatalf("a 3s TTL expired after %v", time.Since(published))
	}
	st, _ := js.Stream(ctx, "TB")
	if info := st.CachedInfo(); info.State.Msgs != 1 || info.State.FirstSeq != 1 || info.State.LastSeq != 2 {
		t.Fatalf("never after restart and max_age: %+v", info.State)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil || m.Header.Get("Nats-TTL") != "never" {
		t.Fatalf("kept message: %v %v", m, err)
	}
}

// deny_delete and deny_purge refuse the API calls, not roll-ups; failed
// purges keep "purged":0 as the reference's do.
func TestJetStreamDenyDeleteAndPurge(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "DD", `{"name":"DD","subjects":["dd.>"],"deny_delete":true,"deny_purge":true}`)
	mfCreate(t, nc, "DE", `{"name":"DE","subjects":["de.>"],"deny_delete":true,"allow_rollup_hdrs":true}`)
	mfPub(t, nc, "dd.a", "x")
	mfPub(t, nc, "de.a", "x")
	const (
		delNo   = `{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","error":{"code":500,"err_code":10057,"description":"message delete not permitted"}}`
		purgeNo = `{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":500,"err_code":10110,"description":"stream purge not permitted"},"purged":0}`
	)
	for _, c := range []struct{ subj, body, want string }{
		{"STREAM.MSG.DELETE.DD", `{"seq":1}`, delNo},
		{"STREAM.MSG.DELETE.DD", `{"seq":1,"no_erase":true}`, delNo},
		{"STREAM.PURGE.DD", ``, purgeNo},
		{"STREAM.PURGE.DD", `{"filter":"dd.a"}`, purgeNo},
		{"STREAM.PURGE.DD", `{"keep":1}`, purgeNo},
		{"STREAM.PURGE.NOPE", ``, `{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"purged":0}`},
		{"STREAM.PURGE.DE", `{"seq":2,"keep":1}`, `{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":400,"err_code":10003,"description":"bad request"},"purged":0}`},
		{"STREAM.UPDATE.DD", `{"name":"DD","subjects":["dd.>"],"deny_delete":true,"deny_purge":true,"allow_rollup_hdrs":true}`,
			`{"type":"io.nats.jetstream.api.v1.stream_update_response","error":{"code":500,"err_code":10052,"description":"roll-ups require the purge permission"}}`},
	} {
		r, err := nc.Request("$JS.API."+c.subj, []byte(c.body), 2*time.Second)
		if err != nil || string(r.Data) != c.want {
			t.Fatalf("%s %s: %v %s", c.subj, c.body, err, r.Data)
		}
	}
	if got := mfPub(t, nc, "dd.a", "z", "Nats-Rollup:sub"); got != `{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"DD","seq":0}` {
		t.Fatal(got)
	}
	if got := mfPub(t, nc, "de.a", "z", "Nats-Rollup:sub"); got != `{"stream":"DE","seq":2}` {
		t.Fatal(got)
	}
	if st := mfState(t, nc, "DE"); mfNum(st, "messages") != 1 || mfNum(st, "first_seq") != 2 {
		t.Fatalf("rollup with deny_delete: %v", st)
	}
	if st := mfState(t, nc, "DD"); mfNum(st, "messages") != 1 {
		t.Fatalf("denied stream changed: %v", st)
	}
}

// Shortening max_age on update removes what is now too old, and the
// subjects it empties get their markers.
func TestJetStreamMarkersOnMaxAgeUpdate(t *testing.T) {
	t.Parallel() // waits on expiry
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "UP", `{"name":"UP","subjects":["up.>"],"subject_delete_marker_ttl":60000000000}`)
	mfPub(t, nc, "up.a", "x")
	published := time.Now()
	waitFor(t, 2*time.Second, "the message to age", func() bool { return time.Since(published) > 550*time.Millisecond })
	m := jsReq(t, nc, "$JS.API.STREAM.UPDATE.UP", `{"name":"UP","subjects":["up.>"],"subject_delete_marker_ttl":60000000000,"max_age":500000000}`)
	if _, ec, desc := apiErr(m); ec != 0 {
		t.Fatal(ec, desc)
	}
	waitFor(t, 2*time.Second, "the marker", func() bool {
		hdr, _, ok := mfStored(t, nc, "UP", `{"seq":2}`)
		return ok && hdr == strings.Replace(markerHdr, "%s", "1m0s", 1)
	})
}

// Only expiry writes markers: deletes, purges, limits and roll-ups do not.
func TestJetStreamNoMarkersForRemovals(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	mfCreate(t, nc, "PM", `{"name":"PM","subjects":["pm.>"],"subject_delete_marker_ttl":60000000000,"max_msgs_per_subject":1,"max_msgs":2}`)
	mfPub(t, nc, "pm.a", "x")
	mfPub(t, nc, "pm.b", "x")
	jsReq(t, nc, "$JS.API.STREAM.MSG.DELETE.PM", `{"seq":1}`)
	jsReq(t, nc, "$JS.API.STREAM.PURGE.PM", `{"filter":"pm.b"}`)
	for _, subj := range []string{"pm.c", "pm.c", "pm.d", "pm.e"} {
		mfPub(t, nc, subj, "x")
	}
	if got := mfPub(t, nc, "pm.f", "x", "Nats-Rollup:all"); got != `{"stream":"PM","seq":7}` {
		t.Fatal(got)
	}
	// A later publish sees the same last sequence: nothing was queued.
	if got := mfPub(t, nc, "pm.g", "x", "Nats-Expected-Last-Sequence:7"); got != `{"stream":"PM","seq":8}` {
		t.Fatal(got)
	}
	if st := mfState(t, nc, "PM"); mfNum(st, "messages") != 2 || mfNum(st, "first_seq") != 7 {
		t.Fatalf("state: %v", st)
	}
}
