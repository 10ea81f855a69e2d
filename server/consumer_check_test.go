package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The files in testdata/consumer_check are transcripts of create requests
// sent to the reference server (v2.15.2) with its answers:
//
//	limits B M C A   server max_request_batch, max_ack_pending; account max_consumers, max_ack_pending
//	# title          a case
//	stream JSON      the stream is (re)created with this config, without consumers
//	sub/unsub SUBJ   a client subscribes to / unsubscribes from SUBJ
//	req SUBJ [BODY]  a request, answered by the next want line
//	want ERR {...}   the error object
//	want OK {...}    the consumer's config (less _nats.ver and _nats.level)
//	want NONE        no answer (the subject is not an API subject)
//
// %A<n>% stands for n letters 'a'. The driver plays the consumer engine:
// it keeps the configs of the consumers created, passes them as existing
// and others, and checks every answer of checkConsumerCreate.
func TestConsumerCheckTranscripts(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "consumer_check", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { replayConsumerTranscript(t, f) })
	}
}

var transcriptRepeat = regexp.MustCompile(`%A(\d+)%`)

func expandTranscript(s string) string {
	return transcriptRepeat.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(m[2 : len(m)-1])
		return strings.Repeat("a", n)
	})
}

// transcriptEngine stands in for the consumer engine around the check.
type transcriptEngine struct {
	ja        *jsAccount
	st        *stream
	consumers map[string]*ConsumerConfig
	subs      map[string]*subscription
}

func newTranscriptEngine() *transcriptEngine {
	ja := &jsAccount{js: &jetStream{}, acc: NewAccount("A")}
	ja.js.limits.Store(&JSLimitOpts{})
	l := unlimitedAccount()
	ja.limits.Store(&l)
	return &transcriptEngine{ja: ja, subs: map[string]*subscription{}}
}

func replayConsumerTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e := newTranscriptEngine()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	title, lineNo, checked := "", 0, 0
	var pending string // the req line awaiting its want
	for sc.Scan() {
		lineNo++
		line := expandTranscript(sc.Text())
		verb, rest, _ := strings.Cut(line, " ")
		switch verb {
		case "#":
			title = rest
		case "limits":
			e.setLimits(t, rest)
		case "stream":
			e.setStream(t, rest)
		case "sub":
			e.subs[rest] = &subscription{subject: rest}
			if err := e.ja.acc.sl.Insert(e.subs[rest]); err != nil {
				t.Fatal(err)
			}
		case "unsub":
			e.ja.acc.sl.Remove(e.subs[rest])
		case "req":
			pending = rest
		case "want":
			if e.answer(t, pending, rest, title, lineNo) {
				checked++
			}
		}
	}
	if checked < 4 {
		t.Fatalf("only %d answers checked", checked)
	}
}

func (e *transcriptEngine) setLimits(t *testing.T, args string) {
	var n [4]int
	for i, f := range strings.Fields(args) {
		n[i], _ = strconv.Atoi(f)
	}
	e.ja.js.limits.Store(&JSLimitOpts{MaxRequestBatch: n[0], MaxAckPending: n[1]})
	l := unlimitedAccount()
	l.MaxConsumers, l.MaxAckPending = n[2], n[3]
	e.ja.limits.Store(&l)
}

func (e *transcriptEngine) setStream(t *testing.T, body string) {
	var cfg StreamConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatalf("stream %s: %v", body, err)
	}
	setStreamDefaults(&cfg)
	e.st = &stream{name: cfg.Name, config: cfg}
	e.consumers = map[string]*ConsumerConfig{}
}

// answer checks one request against the reference's answer; it reports
// false for the answers that belong to the API layer (no handler, JSON
// decoding, unknown stream) and for deletes, which it applies.
func (e *transcriptEngine) answer(t *testing.T, req, want, title string, lineNo int) bool {
	t.Helper()
	subj, body, _ := strings.Cut(req, " ")
	tok := strings.Split(subj, ".")
	if len(tok) == 6 && tok[3] == "DELETE" {
		delete(e.consumers, tok[5])
		return false
	}
	a, ok := transcriptArgs(tok)
	if !ok || a.stream != e.st.name || strings.HasPrefix(want, "NONE") {
		return false
	}
	var cr CreateConsumerRequest
	if body != "" {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&cr) != nil {
			return false
		}
	}
	a.req = &cr
	a.accountConsumers = len(e.consumers)
	key := a.name
	existing := e.consumers[key]
	var others []*ConsumerConfig
	for n, c := range e.consumers {
		if n != key {
			others = append(others, c)
		}
	}
	cfg, apiErr := e.ja.checkConsumerCreate(e.st, &a, existing, others)
	where := strconv.Itoa(lineNo) + " (" + title + ")"
	kind, js, _ := strings.Cut(want, " ")
	if kind == "ERR" {
		checkTranscriptErr(t, where, js, cfg, apiErr)
		return true
	}
	if apiErr != nil {
		t.Fatalf("line %s: got %+v, want OK %s", where, apiErr, js)
	}
	checkTranscriptConfig(t, where, js, cfg)
	if key == "" {
		key = a.name
	}
	e.consumers[key] = cfg
	return true
}

// transcriptArgs reads a create subject as the API layer does.
func transcriptArgs(tok []string) (consumerCreateArgs, bool) {
	var a consumerCreateArgs
	switch {
	case len(tok) == 7 && tok[3] == "DURABLE" && tok[4] == "CREATE":
		a.stream, a.name, a.durableAPI = tok[5], tok[6], true
	case len(tok) >= 5 && tok[3] == "CREATE":
		a.stream = tok[4]
		if len(tok) > 5 {
			a.name = tok[5]
		}
		if len(tok) > 6 {
			a.filter = strings.Join(tok[6:], ".")
		}
	default:
		return a, false
	}
	return a, true
}

func checkTranscriptErr(t *testing.T, where, js string, cfg *ConsumerConfig, got *ApiError) {
	t.Helper()
	var want ApiError
	if err := json.Unmarshal([]byte(js), &want); err != nil {
		t.Fatalf("line %s: %v", where, err)
	}
	if got == nil {
		b, _ := json.Marshal(cfg)
		t.Fatalf("line %s: accepted %s, want %+v", where, b, want)
	}
	if *got != want {
		t.Fatalf("line %s:\n got %+v\nwant %+v", where, *got, want)
	}
}

func checkTranscriptConfig(t *testing.T, where, js string, cfg *ConsumerConfig) {
	t.Helper()
	var want, got map[string]any
	b, _ := json.Marshal(cfg)
	if json.Unmarshal([]byte(js), &want) != nil || json.Unmarshal(b, &got) != nil {
		t.Fatalf("line %s: bad JSON", where)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("line %s:\n got %s\nwant %s", where, b, js)
	}
}
