package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// STREAM.MSG.GET, MSG.DELETE, INFO with deleted details and a subjects
// filter, and PURGE: each answer as the reference v2.15.2 gives it
// (observed), with times and byte counts masked.
func TestJetStreamAPIMessages(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.N", `{"name":"N","subjects":["n.*"]}`)
	for i, subj := range []string{"n.a", "n.b", "n.a", "n.c"} {
		m := &nats.Msg{Subject: subj, Data: []byte{byte('1' + i)}}
		if i == 0 {
			m.Header = nats.Header{"Foo": []string{"bar"}}
		}
		if _, err := nc.RequestMsg(m, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	times := regexp.MustCompile(`"(created|ts|time|first_ts|last_ts)":"[^"]*"`)
	other := regexp.MustCompile(`"bytes":\d+|"config":\{.*?\}\},`)
	const get = `{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",`
	for _, tc := range []struct{ subj, body, want string }{
		{"MSG.GET.N", `{"seq":1}`, get + `"message":{"subject":"n.a","seq":1,"hdrs":"TkFUUy8xLjANCkZvbzogYmFyDQoNCg==","data":"MQ==","time":T}}`},
		{"MSG.GET.N", `{"seq":1,"no_hdr":true}`, get + `"message":{"subject":"n.a","seq":1,"data":"MQ==","time":T}}`},
		{"MSG.GET.N", `{"last_by_subj":"n.a"}`, get + `"message":{"subject":"n.a","seq":3,"data":"Mw==","time":T}}`},
		{"MSG.GET.N", `{"last_by_subj":"n.*"}`, get + `"message":{"subject":"n.c","seq":4,"data":"NA==","time":T}}`},
		{"MSG.GET.N", `{"next_by_subj":"n.a","seq":2}`, get + `"message":{"subject":"n.a","seq":3,"data":"Mw==","time":T}}`},
		{"MSG.GET.N", `{"next_by_subj":"n.z"}`, get + `"error":{"code":404,"err_code":10037,"description":"no message found"}}`},
		{"MSG.GET.N", `{"start_time":"2000-01-01T00:00:00Z"}`, get + `"message":{"subject":"n.a","seq":1,"hdrs":"TkFUUy8xLjANCkZvbzogYmFyDQoNCg==","data":"MQ==","time":T}}`},
		{"MSG.GET.N", `{"start_time":"2100-01-01T00:00:00Z"}`, get + `"error":{"code":404,"err_code":10037,"description":"no message found"}}`},
		{"MSG.GET.N", `{"seq":1,"batch":2}`, get + `"error":{"code":400,"err_code":10003,"description":"bad request"}}`},
		{"MSG.GET.X", `{"seq":1}`, get + `"error":{"code":404,"err_code":10059,"description":"stream not found"}}`},
		{"MSG.DELETE.N", `{"seq":2,"no_erase":true}`, `{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","success":true}`},
		{"MSG.DELETE.N", `{"seq":99}`, `{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","error":{"code":500,"err_code":10057,"description":"stream store EOF"}}`},
		{"INFO.N", `{"deleted_details":true}`, `{"type":"io.nats.jetstream.api.v1.stream_info_response","total":0,"offset":0,"limit":0,"created":T,` +
			`"state":{"messages":3,,"first_seq":1,"first_ts":T,"last_seq":4,"last_ts":T,"num_subjects":2,"num_deleted":1,"deleted":[2],"consumer_count":0},"cluster":{"leader":"` + s.Name() + `"},"ts":T}`},
		{"INFO.N", `{"subjects_filter":">"}`, `{"type":"io.nats.jetstream.api.v1.stream_info_response","total":2,"offset":0,"limit":100000,"created":T,` +
			`"state":{"messages":3,,"first_seq":1,"first_ts":T,"last_seq":4,"last_ts":T,"num_subjects":2,"subjects":{"n.a":2,"n.c":1},"num_deleted":1,"consumer_count":0},"cluster":{"leader":"` + s.Name() + `"},"ts":T}`},
		{"PURGE.N", `{"filter":"n.a"}`, `{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":2}`},
		{"PURGE.N", `{"seq":4}`, `{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":0}`},
		{"PURGE.N", `xyz`, `{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":1}`},
	} {
		msg, err := nc.Request("$JS.API.STREAM."+tc.subj, []byte(tc.body), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got := other.ReplaceAllString(times.ReplaceAllString(string(msg.Data), `"$1":T`), "")
		if !json.Valid(msg.Data) || got != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.subj, tc.body, got, tc.want)
		}
	}
}

// Direct get on a stream with allow_direct: nats.go uses it for GetMsg;
// the reply carries the stored headers plus the stream's own.
func TestJetStreamDirectGet(t *testing.T) {
	js, nc, ctx := jsCtx(t)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "D", Subjects: []string{"d.*"}, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "d.a", Data: []byte("one"), Header: nats.Header{"Foo": []string{"bar"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "d.b", []byte("two")); err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "one" || m.Subject != "d.a" || m.Header.Get("Foo") != "bar" {
		t.Fatalf("direct get 1: %+v %v", m, err)
	}
	m, err = st.GetLastMsgForSubject(ctx, "d.b")
	if err != nil || string(m.Data) != "two" || m.Sequence != 2 {
		t.Fatalf("direct last for d.b: %+v %v", m, err)
	}
	if _, err := st.GetMsg(ctx, 9); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("direct get missing: %v", err)
	}
	for body, status := range map[string]string{"": "408", `{"batch":5}`: "408", `{"seq":1,"last_by_subj":"d.a"}`: "408", `{x`: "408"} {
		r, err := nc.Request("$JS.API.DIRECT.GET.D", []byte(body), 2*time.Second)
		if err != nil || r.Header.Get("Status") != status {
			t.Errorf("%q: %v %v", body, r.Header, err)
		}
	}
	r, err := nc.Request("$JS.API.DIRECT.GET.D.d.a", nil, 2*time.Second)
	if err != nil || string(r.Data) != "one" || r.Header.Get("Nats-Sequence") != "1" || r.Header.Get("Nats-Stream") != "D" ||
		r.Header.Get("Nats-Subject") != "d.a" || r.Header.Get("Nats-Time-Stamp") == "" {
		t.Fatalf("subject form: %v %q %v", r.Header, r.Data, err)
	}
}

// A publish to a subject with wildcard tokens that a stream's subjects
// match is stored with that subject as it is, as the reference does (the
// nats.js suite publishes to its streams' "<name>.*" subject).
func TestJetStreamPublishWildcardSubject(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsOK(t, nc, "$JS.API.STREAM.CREATE.X", `{"name":"X","subjects":["X.*"]}`)
	for i, subj := range []string{"X.*", "X.>"} {
		msg, err := nc.Request(subj, []byte("hello"), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"stream":"X","seq":%d}`, i+1); string(msg.Data) != want {
			t.Fatalf("publish to %s: %s, want %s", subj, msg.Data, want)
		}
	}
	if m := getMsg(t, nc, "X", 1); m.Subject != "X.*" || string(m.Data) != "hello" {
		t.Fatalf("stored %q %q", m.Subject, m.Data)
	}
}
