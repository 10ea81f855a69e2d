package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The consumer create transcripts in server/testdata/consumer_check were
// recorded on the reference server v2.15.2 (see the format in
// server/consumer_check_test.go). Replayed here through the API of a
// running server, every answer must match: errors byte for byte, and the
// consumer's config, with _nats.ver and _nats.level in create and info
// answers.
func TestJetStreamConsumerCreateTranscripts(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "server", "testdata", "consumer_check", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { replayTranscriptAPI(t, f) })
	}
}

var transcriptA = regexp.MustCompile(`%A(\d+)%`)

func expandTranscriptLine(s string) string {
	return transcriptA.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(m[2 : len(m)-1])
		return strings.Repeat("a", n)
	})
}

// transcriptConf is the server of a transcript: its limits line gives the
// server's max_request_batch and max_ack_pending and the account's
// max_consumers and max_ack_pending (-1: unset).
func transcriptConf(limits string) string {
	if limits == "" {
		return "listen: 127.0.0.1:-1\njetstream { store_dir: \"STORE\" }\n"
	}
	var n [4]int
	for i, f := range strings.Fields(limits) {
		n[i], _ = strconv.Atoi(f)
	}
	acct := "enabled"
	if n[2] > 0 || n[3] > 0 {
		acct = "{"
		if n[2] > 0 {
			acct += " max_consumers: " + strconv.Itoa(n[2]) + ","
		}
		if n[3] > 0 {
			acct += " max_ack_pending: " + strconv.Itoa(n[3])
		}
		acct += " }"
	}
	return "listen: 127.0.0.1:-1\njetstream { store_dir: \"STORE\", limits { max_request_batch: " + strconv.Itoa(n[0]) +
		", max_ack_pending: " + strconv.Itoa(n[1]) + " } }\naccounts { A { jetstream: " + acct +
		", users [{user: a, password: a}] } }\nno_auth_user: a\n"
}

func replayTranscriptAPI(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	limits := ""
	if first, _, _ := strings.Cut(string(data), "\n"); strings.HasPrefix(first, "limits ") {
		limits = strings.TrimPrefix(first, "limits ")
	}
	s, _ := runJSConf(t, transcriptConf(limits), "")
	r := &transcriptReplay{t: t, nc: connect(t, s), subs: map[string]*nats.Subscription{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		r.line++
		r.step(expandTranscriptLine(sc.Text()))
	}
	t.Logf("%d answers checked, %d left to features not supported yet", r.checked, r.gated)
	// Every consumer feature of the transcripts exists now: an answer
	// "not supported yet" where the reference created is a failure.
	if r.checked == 0 || r.gated > 0 {
		t.Fatalf("only %d answers checked, %d left to features not supported yet", r.checked, r.gated)
	}
}

// transcriptReplay plays one transcript against the server. A consumer
// the server refuses with "not supported yet" where the reference created
// it (a feature still to come) takes its case with it: the rest of the
// case, and later requests on that consumer until it is deleted or the
// stream recreated, are not compared. Every other answer is, and most
// must be.
type transcriptReplay struct {
	t              *testing.T
	nc             *nats.Conn
	subs           map[string]*nats.Subscription
	title, req     string
	line           int
	checked, gated int
	skipCase       bool
	gatedConsumers map[string]bool
}

func (r *transcriptReplay) step(line string) {
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "#":
		r.title, r.skipCase = rest, false
	case "stream":
		recreateStream(r.t, r.nc, rest)
		r.gatedConsumers = map[string]bool{}
	case "sub":
		r.subs[rest], _ = r.nc.SubscribeSync(rest)
		r.nc.Flush()
	case "unsub":
		r.subs[rest].Unsubscribe()
		r.nc.Flush()
	case "req":
		r.req = rest
	case "want":
		r.answer(rest)
	}
}

func (r *transcriptReplay) answer(want string) {
	subj, _, _ := strings.Cut(r.req, " ")
	name := transcriptConsumerName(subj)
	if r.gatedConsumers[name] && strings.HasPrefix(subj, "$JS.API.CONSUMER.DELETE.") {
		delete(r.gatedConsumers, name) // gone on both servers now
		r.gated++
		return
	}
	if r.skipCase || r.gatedConsumers[name] {
		r.gated++
		return
	}
	where := strconv.Itoa(r.line) + " (" + r.title + ")"
	if checkTranscriptAnswer(r.t, r.nc, where, r.req, want) {
		r.checked++
		return
	}
	r.gated++
	r.skipCase = true
	r.gatedConsumers[name] = true
}

// transcriptConsumerName is the consumer a request's subject names.
func transcriptConsumerName(subj string) string {
	tok := strings.Split(subj, ".")
	switch {
	case len(tok) >= 7 && tok[3] == "DURABLE":
		return tok[6]
	case len(tok) >= 6:
		return tok[5]
	}
	return ""
}

func recreateStream(t *testing.T, nc *nats.Conn, body string) {
	t.Helper()
	var cfg struct{ Name string }
	json.Unmarshal([]byte(body), &cfg)
	nc.Request("$JS.API.STREAM.DELETE."+cfg.Name, nil, 2*time.Second)
	if m := jsReq(t, nc, "$JS.API.STREAM.CREATE."+cfg.Name, body); m["error"] != nil {
		t.Fatalf("stream %s: %v", body, m["error"])
	}
}

// checkTranscriptAnswer sends one request and compares the answer. It
// reports false, without failing, when the reference accepted what this
// server refuses as not supported yet.
func checkTranscriptAnswer(t *testing.T, nc *nats.Conn, where, req, want string) bool {
	t.Helper()
	subj, body, _ := strings.Cut(req, " ")
	kind, js, _ := strings.Cut(want, " ")
	if kind == "NONE" {
		if msg, err := nc.Request(subj, []byte(body), 250*time.Millisecond); err == nil {
			t.Fatalf("line %s: answered %s", where, msg.Data)
		}
		return true
	}
	m := jsReq(t, nc, subj, body)
	if _, _, desc := apiErr(m); kind == "OK" && strings.HasSuffix(desc, " is not supported yet") {
		return false
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(js), &w); err != nil {
		t.Fatalf("line %s: %v", where, err)
	}
	if kind == "ERR" {
		if !reflect.DeepEqual(m["error"], any(w)) {
			t.Errorf("line %s: %s\n got %v\nwant %v", where, req, m["error"], w)
		}
		return true
	}
	if m["error"] != nil {
		t.Errorf("line %s: %s\n got %v\nwant OK %s", where, req, m["error"], js)
		return true
	}
	cfg, _ := m["config"].(map[string]any)
	if cfg == nil {
		return true // a delete
	}
	md, _ := cfg["metadata"].(map[string]any)
	if md["_nats.ver"] != "2.15.2" || md["_nats.level"] != "5" {
		t.Fatalf("line %s: metadata %v without the server's version", where, md)
	}
	delete(md, "_nats.ver")
	delete(md, "_nats.level")
	if !reflect.DeepEqual(cfg, w) {
		got, _ := json.Marshal(cfg)
		t.Errorf("line %s: %s\n got %s\nwant %s", where, req, got, js)
	}
	return true
}

// nats.go's jetstream API sees the reference's defaults and the actions:
// CreateConsumer refuses a different config (10148), UpdateConsumer a
// missing consumer (10149), CreateOrUpdateConsumer does both.
func TestJetStreamConsumerConfigNatsGo(t *testing.T) {
	s, _ := runJS(t)
	js, err := jetstream.New(connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"},
		ConsumerLimits: jetstream.StreamConsumerLimits{MaxAckPending: 200}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	got := c.CachedInfo().Config
	if got.AckWait != 30*time.Second || got.MaxDeliver != -1 || got.MaxWaiting != 512 || got.MaxAckPending != 200 ||
		got.InactiveThreshold != 0 || got.Metadata["_nats.req.level"] != "0" || got.Metadata["_nats.ver"] != "2.15.2" {
		t.Fatalf("defaults: %+v", got)
	}
	if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("identical create: %v", err)
	}
	_, err = st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy, Description: "x"})
	if !errors.Is(err, jetstream.ErrConsumerExists) {
		t.Fatalf("create over a different config: %v", err)
	}
	_, err = st.UpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "NEW", AckPolicy: jetstream.AckExplicitPolicy})
	if !errors.Is(err, jetstream.ErrConsumerDoesNotExist) {
		t.Fatalf("update of a missing consumer: %v", err)
	}
	_, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckAllPolicy})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10012 || apiErr.Description != "ack policy can not be updated" {
		t.Fatalf("ack policy change: %v", err)
	}
	_, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: 201})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10121 || apiErr.Description != "consumer max ack pending exceeds system limit of 200" {
		t.Fatalf("over the stream's max_ack_pending: %v", err)
	}
	c, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy,
		Description: "updated", MaxDeliver: 5, BackOff: []time.Duration{time.Second, 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config; got.Description != "updated" || got.AckWait != time.Second || got.MaxDeliver != 5 {
		t.Fatalf("update: %+v", got)
	}
}

// A create with action "create" and the config a consumer already has is
// accepted, also after a restart has read the config back from disk (a
// start time with its zone included); an empty list differs from none,
// as on the reference.
func TestJetStreamConsumerIdenticalCreateAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := runJSDir(t, dir)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"]}`)
	body := `{"stream_name":"S","action":"create","config":{"durable_name":"D","ack_policy":"explicit",` +
		`"filter_subjects":["s.a","s.b"],"backoff":[1000000000],"max_deliver":3,"metadata":{"team":"x"},` +
		`"opt_start_time":"2020-01-02T03:04:05+02:00","deliver_policy":"by_start_time"}}`
	first := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.D", body)
	if first["error"] != nil {
		t.Fatal(first["error"])
	}
	nc.Close()
	s.Shutdown()
	s = runJSDir(t, dir)
	nc = connect(t, s)
	again := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.D", body)
	if again["error"] != nil || !reflect.DeepEqual(again["config"], first["config"]) {
		t.Fatalf("identical create after restart: %v\nfirst %v", again, first["config"])
	}
	empty := strings.Replace(body, `"metadata":{"team":"x"},`, `"metadata":{"team":"x"},"priority_groups":[],`, 1)
	jsErrOf(t, "create with an empty list instead of none", jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.D", empty),
		10148, "consumer already exists")
	jsErrOf(t, "create with another config", jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.D",
		strings.Replace(body, `"max_deliver":3`, `"max_deliver":4`, 1)), 10148, "consumer already exists")
	upd := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.D", strings.Replace(strings.Replace(body, `"action":"create",`, ``, 1),
		`"max_deliver":3`, `"max_deliver":4,"description":"d"`, 1))
	cfg, _ := upd["config"].(map[string]any)
	if cfg["max_deliver"] != 4.0 || cfg["description"] != "d" || cfg["opt_start_time"] != "2020-01-02T03:04:05+02:00" {
		t.Fatalf("update: %v", upd)
	}
}
