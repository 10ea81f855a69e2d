package test

import (
	"strings"
	"testing"
	"time"
)

// persist_mode: "async" is accepted on R1 file streams, shown in the
// config with API level 2, kept across updates, and refused where the
// reference refuses it, with its words (observed on v2.15.2).
func TestJetStreamPersistModeAsync(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	for _, tc := range []struct{ subj, body, want string }{
		{"CREATE.A", `{"name":"A","subjects":["a"],"persist_mode":"async"}`, `"persist_mode":"async","metadata":{"_nats.level":"5","_nats.req.level":"2"`},
		{"CREATE.M", `{"name":"M","subjects":["m"],"persist_mode":"async","storage":"memory"}`, `{"code":500,"err_code":10052,"description":"async persist mode is only supported on file storage"}`},
		{"CREATE.R", `{"name":"R","subjects":["r"],"persist_mode":"async","num_replicas":3}`, `{"code":500,"err_code":10052,"description":"async persist mode is not supported on replicated streams"}`},
		{"CREATE.B", `{"name":"B","subjects":["b"],"persist_mode":"async","allow_atomic":true}`, `{"code":500,"err_code":10052,"description":"async persist mode is not supported with atomic batch publish"}`},
		{"CREATE.X", `{"name":"X","subjects":["x"],"persist_mode":"ASYNC"}`, `{"code":400,"err_code":10025,"description":"invalid JSON: can not unmarshal \"\\\"ASYNC\\\"\""}`},
		{"CREATE.D", `{"name":"D","subjects":["d"],"persist_mode":"default"}`, `"allow_msg_ttl":false,"metadata":{"_nats.level":"5","_nats.req.level":"0"`},
		{"UPDATE.D", `{"name":"D","subjects":["d"],"persist_mode":"async"}`, `{"code":500,"err_code":10052,"description":"stream configuration update can not change persist mode"}`},
		{"UPDATE.A", `{"name":"A","subjects":["a"]}`, `{"code":500,"err_code":10052,"description":"stream configuration update can not change persist mode"}`},
		{"UPDATE.A", `{"name":"A","subjects":["a","a2"],"persist_mode":"async"}`, `"subjects":["a","a2"]`},
	} {
		msg, err := nc.Request("$JS.API.STREAM."+tc.subj, []byte(tc.body), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg.Data), tc.want) {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.subj, tc.body, msg.Data, tc.want)
		}
	}
	if m, err := nc.Request("a", []byte("hi"), 2*time.Second); err != nil || string(m.Data) != `{"stream":"A","seq":1}` {
		t.Fatalf("publish to an async stream: %v %v", m, err)
	}
}
