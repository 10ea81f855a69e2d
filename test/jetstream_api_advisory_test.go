package test

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// nextAdvisory waits for the next message of sub as a JSON map.
func nextAdvisory(t *testing.T, sub *nats.Subscription) (string, map[string]any) {
	t.Helper()
	var m map[string]any
	subj := nextJSON(t, sub, &m)
	return subj, m
}

// Every API reply is audited on $JS.EVENT.ADVISORY.API with the request,
// the response and the requesting client, and stream create, update and
// delete are advised; fields, order and types as the reference sends them
// (observed on v2.15.2). Requests through the domain are audited under
// $JS.API with the domain.
func TestJetStreamAPIAuditAndStreamAdvisories(t *testing.T) {
	s, _ := runJSConf(t, `listen: 127.0.0.1:-1
server_name: adv
jetstream { store_dir: "STORE", domain: hub }
accounts { A { jetstream: enabled, users [{user: a, password: a}] } }
`, "")
	nc := connect(t, s, nats.UserInfo("a", "a"), nats.Name("auditor"))
	audit, _ := nc.SubscribeSync("$JS.EVENT.ADVISORY.API")
	streams, _ := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.*.S")
	nc.Flush()
	create := `{"name":"S","subjects":["s.*"]}`
	jsReq(t, nc, "$JS.hub.API.STREAM.CREATE.S", create)
	_, sa := nextAdvisory(t, streams)
	if sa["type"] != "io.nats.jetstream.advisory.v1.stream_action" || sa["stream"] != "S" || sa["action"] != "create" ||
		sa["domain"] != "hub" || len(sa["id"].(string)) != 22 || sa["timestamp"] == nil {
		t.Fatalf("stream created %v", sa)
	}
	msg, err := audit.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	order := []string{`"type":"io.nats.jetstream.advisory.v1.api_audit"`, `"id":`, `"timestamp":`, `"server":"adv"`,
		`"client":{"start":`, `"host":"127.0.0.1"`, `"acc":"A"`, `"user":"a"`, `"name":"auditor"`, `"lang":"go"`,
		`"server":"adv","kind":"Client","client_type":"nats"}`, `"subject":"$JS.API.STREAM.CREATE.S"`,
		`"request":` + strconv.Quote(create), `"response":"{\"type\":\"io.nats.jetstream.api.v1.stream_create_response\"`,
		`"domain":"hub"}`}
	at := 0
	for _, part := range order {
		i := strings.Index(string(msg.Data[at:]), part)
		if i < 0 {
			t.Fatalf("audit lacks %s after offset %d: %s", part, at, msg.Data)
		}
		at += i + len(part)
	}
	jsReq(t, nc, "$JS.API.STREAM.UPDATE.S", `{"name":"S","subjects":["s.*","t"]}`)
	if _, sa := nextAdvisory(t, streams); sa["action"] != "modify" {
		t.Fatalf("stream updated %v", sa)
	}
	jsReq(t, nc, "$JS.API.STREAM.INFO.NOPE", "")
	jsReq(t, nc, "$JS.API.STREAM.DELETE.S", "")
	subj, sa := nextAdvisory(t, streams)
	if subj != "$JS.EVENT.ADVISORY.STREAM.DELETED.S" || sa["action"] != "delete" {
		t.Fatalf("stream deleted %s %v", subj, sa)
	}
	// Each audit follows its reply, so two workers may publish theirs in
	// either order.
	audited := map[string]map[string]any{}
	for i := 0; i < 3; i++ {
		_, a := nextAdvisory(t, audit)
		audited[a["subject"].(string)] = a
	}
	for _, subj := range []string{"$JS.API.STREAM.UPDATE.S", "$JS.API.STREAM.INFO.NOPE", "$JS.API.STREAM.DELETE.S"} {
		if audited[subj] == nil {
			t.Fatalf("%s not audited: %v", subj, audited)
		}
	}
	if a := audited["$JS.API.STREAM.INFO.NOPE"]; a["request"] != nil || !strings.Contains(a["response"].(string), `"err_code":10059`) {
		t.Fatalf("audit of an error %v", a)
	}
}

// A flood of API requests past request_queue_limit empties the queue: the
// dropped requests go unanswered, the system account gets
// api_limit_reached advisories whose counts add up, and core messaging on
// the same server keeps answering promptly throughout.
func TestJetStreamAPIQueueOverflow(t *testing.T) {
	s, _ := runJSConf(t, `listen: 127.0.0.1:-1
server_name: flood
jetstream { store_dir: "STORE", request_queue_limit: 20 }
accounts { A { jetstream: enabled, users [{user: a, password: a}] }, SYS { users [{user: s, password: s}] } }
system_account: SYS
`, "")
	sys := connect(t, s, nats.UserInfo("s", "s"))
	var dropped, advisories atomic.Int64
	var first atomic.Value
	sys.Subscribe("$JS.EVENT.ADVISORY.API.LIMIT_REACHED", func(m *nats.Msg) {
		var adv struct {
			Type    string `json:"type"`
			Server  string `json:"server"`
			Dropped int64  `json:"dropped"`
		}
		json.Unmarshal(m.Data, &adv)
		first.CompareAndSwap(nil, adv)
		advisories.Add(1)
		dropped.Add(adv.Dropped)
	})
	sys.Flush()
	nc := connect(t, s, nats.UserInfo("a", "a"))
	echo := connect(t, s, nats.UserInfo("a", "a"))
	echo.Subscribe("echo", func(m *nats.Msg) { m.Respond(nil) })
	echo.Flush()
	var answered atomic.Int64
	inbox := nats.NewInbox()
	nc.Subscribe(inbox+".*", func(*nats.Msg) { answered.Add(1) })
	const n = 3000
	var worst time.Duration
	for i := 0; i < n; i++ {
		// Stream creates touch the disk: far slower than this loop sends them.
		nc.PublishRequest("$JS.API.STREAM.CREATE.S"+strconv.Itoa(i%50), inbox+"."+strconv.Itoa(i),
			[]byte(`{"name":"S`+strconv.Itoa(i%50)+`","storage":"memory"}`))
		if i%500 == 0 {
			start := time.Now()
			if _, err := nc.Request("echo", nil, 2*time.Second); err != nil {
				t.Fatalf("core request during the flood: %v", err)
			}
			worst = max(worst, time.Since(start))
		}
	}
	nc.Flush()
	waitFor(t, 10*time.Second, "every request answered or dropped", func() bool {
		return answered.Load()+dropped.Load() == n
	})
	if advisories.Load() == 0 || answered.Load() == n {
		t.Fatalf("no overflow: %d answered, %d advisories", answered.Load(), advisories.Load())
	}
	adv := first.Load().(struct {
		Type    string `json:"type"`
		Server  string `json:"server"`
		Dropped int64  `json:"dropped"`
	})
	if adv.Type != "io.nats.jetstream.advisory.v1.api_limit_reached" || adv.Server != "flood" || adv.Dropped < 1 || adv.Dropped > 21 {
		t.Fatalf("advisory %+v", adv)
	}
	if worst > time.Second {
		t.Fatalf("core request took %v during the API flood", worst)
	}
	t.Logf("%d answered, %d dropped in %d advisories, worst core round trip %v", answered.Load(), dropped.Load(), advisories.Load(), worst)
}

// Info-class requests have their own queue and limit: flooding it drops
// info requests only, while a stream create is still answered.
func TestJetStreamAPIInfoQueueOverflow(t *testing.T) {
	s, _ := runJSConf(t, `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE", info_queue_limit: 1 }
accounts { A { jetstream: enabled, users [{user: a, password: a}] }, SYS { users [{user: s, password: s}] } }
system_account: SYS
`, "")
	sys := connect(t, s, nats.UserInfo("s", "s"))
	var dropped atomic.Int64
	sys.Subscribe("$JS.EVENT.ADVISORY.API.LIMIT_REACHED", func(m *nats.Msg) {
		var adv struct{ Dropped int64 }
		json.Unmarshal(m.Data, &adv)
		dropped.Add(adv.Dropped)
	})
	sys.Flush()
	nc := connect(t, s, nats.UserInfo("a", "a"))
	var answered atomic.Int64
	inbox := nats.NewInbox()
	nc.Subscribe(inbox+".*", func(*nats.Msg) { answered.Add(1) })
	const n = 500
	for i := 0; i < n; i++ {
		nc.PublishRequest("$JS.API.STREAM.INFO.X", inbox+"."+strconv.Itoa(i), nil)
	}
	jsErrOf(t, "create during the info flood", jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S"}`), 0, "")
	waitFor(t, 10*time.Second, "every info request answered or dropped", func() bool {
		return answered.Load()+dropped.Load() == n
	})
	if dropped.Load() == 0 {
		t.Fatalf("no info request dropped, %d answered", answered.Load())
	}
}
