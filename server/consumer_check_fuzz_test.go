package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzConsumerStreams are the streams a fuzzed request is checked
// against: plain, workqueue with a consumer, with consumer_limits.
var fuzzConsumerStreams = []StreamConfig{
	{Name: "S", Subjects: []string{"s.>"}},
	{Name: "S", Subjects: []string{"s.>"}, Retention: WorkQueuePolicy},
	{Name: "S", Subjects: []string{"s.*", "t"}, Storage: MemoryStorage,
		ConsumerLimits: StreamConsumerLimits{InactiveThreshold: time.Minute, MaxAckPending: 50}},
}

// FuzzConsumerCheck decodes a create request and checks it in every
// subject form, against a few streams, with and without server limits.
// Nothing may panic, every refusal carries a catalogue error, and an
// accepted config is a fixed point: sent again (also pedantic, also as an
// identical create of the existing consumer) it is accepted unchanged.
func FuzzConsumerCheck(f *testing.F) {
	for _, s := range []string{
		`{"stream_name":"S","config":{"durable_name":"D","ack_policy":"explicit"}}`,
		`{"stream_name":"S","config":{"ack_policy":"flow_control","deliver_subject":"d"}}`,
		`{"stream_name":"S","pedantic":true,"config":{"backoff":[1000000000,-1],"max_deliver":1}}`,
		`{"stream_name":"S","config":{"filter_subjects":["s.a","s.*"],"deliver_policy":"last_per_subject"}}`,
		`{"stream_name":"S","config":{"priority_policy":"pinned_client","priority_groups":["A"],"priority_timeout":-1}}`,
		`{"stream_name":"S","action":"create","config":{"name":"a.b","sample_freq":"-5%","max_ack_pending":-7}}`,
		`{"stream_name":"S","config":{"deliver_subject":"s.x","idle_heartbeat":50000000,"flow_control":true}}`,
		`{"stream_name":"S","config":{"metadata":{"_nats.req.level":"9"},"pause_until":"2030-01-01T00:00:00Z"}}`,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(0x1f))
	}
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		var req CreateConsumerRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		e := newTranscriptEngine()
		if mode&0x10 != 0 {
			e.setLimits(t, "100 500 3 300")
		}
		scfg := fuzzConsumerStreams[int(mode>>5)%len(fuzzConsumerStreams)]
		setStreamDefaults(&scfg)
		e.st = &stream{name: "S", config: scfg}
		a := fuzzConsumerArgs(mode, &req)
		form := a // the check names a legacy ephemeral in a
		cfg, apiErr := e.ja.checkConsumerCreate(e.st, &a, nil, nil)
		if apiErr != nil {
			if apiErr.ErrCode == 0 || apiErr.Description == "" || strings.Contains(apiErr.Description, "{") {
				t.Fatalf("error without code or text: %+v", apiErr)
			}
			return
		}
		recheckConsumer(t, e, form, cfg)
	})
}

// fuzzConsumerArgs picks a subject form from the low bits of mode.
func fuzzConsumerArgs(mode uint8, req *CreateConsumerRequest) consumerCreateArgs {
	a := consumerCreateArgs{stream: "S", req: req}
	switch mode & 3 {
	case 1:
		a.name = "C"
	case 2:
		a.name, a.durableAPI = req.Config.Durable, true
	case 3:
		a.name, a.filter = "C", req.Config.FilterSubject
	}
	return a
}

// recheckConsumer sends an accepted config again: as a new consumer in
// pedantic mode, and as an identical create of the consumer it made.
func recheckConsumer(t *testing.T, e *transcriptEngine, a consumerCreateArgs, cfg *ConsumerConfig) {
	t.Helper()
	again := CreateConsumerRequest{Stream: "S", Config: *cfg, Pedantic: true}
	a2 := consumerCreateArgs{stream: "S", name: a.name, durableAPI: a.durableAPI, filter: a.filter, req: &again}
	if a.durableAPI || a.filter != "" {
		a2.name = cfg.Name
	}
	a3 := a2 // the first check may name a legacy ephemeral in a2
	got, apiErr := e.ja.checkConsumerCreate(e.st, &a2, nil, nil)
	if apiErr != nil {
		t.Fatalf("accepted %+v\nbut not again: %+v", cfg, apiErr)
	}
	sameConsumerConfig(t, cfg, got)
	if cfg.Metadata["_nats.req.level"] != got.Metadata["_nats.req.level"] {
		return // the level of a reset value differs, so the configs do
	}
	again.Pedantic, again.Action = false, ActionCreate
	if _, apiErr = e.ja.checkConsumerCreate(e.st, &a3, cfg, nil); apiErr != nil {
		t.Fatalf("identical create of %+v refused: %+v", cfg, apiErr)
	}
}

// sameConsumerConfig compares two configs but for the required level,
// which the reference computes before resetting negative values.
func sameConsumerConfig(t *testing.T, want, got *ConsumerConfig) {
	t.Helper()
	w, g := *want, *got
	w.Metadata, g.Metadata = nil, nil
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("config changed when sent again:\n was %+v\n now %+v", w, g)
	}
}
