package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

func runJSDir(t *testing.T, dir string) *server.Server {
	t.Helper()
	o := DefaultTestOptions()
	o.JetStream = true
	o.StoreDir = dir
	return RunServer(t, o)
}

// lastMsg returns the last message on subj (headers decoded), or nil.
func lastMsg(t *testing.T, nc *nats.Conn, stream, subj string) (hdrs string, data string, seq float64) {
	t.Helper()
	m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET."+stream, fmt.Sprintf(`{"last_by_subj":%q}`, subj))
	msg, _ := m["message"].(map[string]any)
	if msg == nil {
		return "", "", 0
	}
	var h, d []byte
	raw, _ := json.Marshal(msg["hdrs"])
	_ = json.Unmarshal(raw, &h)
	raw, _ = json.Marshal(msg["data"])
	_ = json.Unmarshal(raw, &d)
	return string(h), string(d), msg["seq"].(float64)
}

func subjectCounts(t *testing.T, nc *nats.Conn, stream string) map[string]any {
	t.Helper()
	info := jsReq(t, nc, "$JS.API.STREAM.INFO."+stream, `{"subjects_filter":">"}`)
	subjs, _ := info["state"].(map[string]any)["subjects"].(map[string]any)
	return subjs
}

// Publish-time checks of schedule headers, byte for byte as the reference
// answers (observed on v2.15.2).
func TestJetStreamScheduleErrors(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"],"allow_msg_schedules":true}`)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t.>"]}`)
	e := func(code int, desc string) string {
		return fmt.Sprintf(`{"error":{"code":400,"err_code":%d,"description":%q},"stream":"S","seq":0}`, code, desc)
	}
	pattern, target := e(10189, "message schedules pattern is invalid"), e(10190, "message schedules target is invalid")
	tz, sched := e(10223, "message schedules time zone is invalid"), e(10212, "message schedules invalid scheduler")
	rollup := e(10192, "message schedules invalid rollup")
	every, tgt := "Nats-Schedule: @every 1s", "Nats-Schedule-Target: s.out.c"
	for i, tc := range []struct {
		subj string
		hdrs []string
		want string
	}{
		{"t.sched", []string{every, "Nats-Schedule-Target: t.out"}, `{"error":{"code":400,"err_code":10188,"description":"message schedules is disabled"},"stream":"T","seq":0}`},
		{"t.sched", []string{"Nats-Schedule-Target: t.out"}, `{"stream":"T","seq":1}`},
		{"s.sched.c", []string{"Nats-Schedule: bogus", tgt}, pattern},
		{"s.sched.c", []string{every}, target},
		{"s.sched.c", []string{every, "Nats-Schedule-Target: s.sched.c"}, target},
		{"s.sched.c", []string{every, "Nats-Schedule-Target: other.x"}, target},
		{"s.sched.c", []string{every, "Nats-Schedule-Target: s.*"}, target},
		{"s.sched.c", []string{"Nats-Schedule: @every 500ms", tgt}, pattern},
		{"s.sched.c", []string{every, tgt, "Nats-Schedule-Source: s.out.c"}, e(10203, "message schedules source is invalid")},
		{"s.sched.c", []string{every, tgt, "Nats-Schedule-TTL: xyz"}, e(10191, "message schedules invalid per-message TTL")},
		{"s.sched.c", []string{every, tgt, "Nats-Schedule-TTL: 5s"}, e(10166, "per-message TTL is disabled")},
		{"s.sched.c", []string{every, tgt, "Nats-Schedule-Rollup: all"}, rollup},
		{"s.sched.c", []string{every, tgt, "Nats-Rollup: all"}, rollup},
		{"s.sched.c", []string{every, tgt, "Nats-Schedule-Time-Zone: Europe/Paris"}, pattern},
		{"s.sched.c", []string{"Nats-Schedule: 0 0 * * * *", tgt, "Nats-Schedule-Time-Zone: Mars/Base"}, tz},
		{"s.sched.c", []string{"Nats-Schedule: 0 0 * * *", tgt}, pattern},
		{"s.sched.d", []string{"Nats-Schedule: 0 0 * * * *", tgt, "Nats-Schedule-Time-Zone: UTC"}, `{"stream":"S","seq":1}`},
		{"s.sched.e", []string{"Nats-Schedule: @hourly", "Nats-Schedule-Target: s.out.e"}, `{"stream":"S","seq":2}`},
		{"s.out.x", []string{"Nats-Scheduler: s.sched.d"}, sched},
		{"s.out.x", []string{"Nats-Schedule-Next: purge"}, sched},
		{"s.sched.d", []string{"Nats-Schedule-Next: purge", "Nats-Scheduler: s.sched.d"}, sched},
		{"s.out.x", []string{"Nats-Schedule-Target: s.out.x"}, `{"stream":"S","seq":3}`},
		{"s.out.x", []string{"Nats-Schedule-Next: purge", "Nats-Scheduler: s.sched.d"}, `{"stream":"S","seq":4}`},
	} {
		if got := pubHdr(t, nc, tc.subj, "x", time.Second, tc.hdrs...); got != tc.want {
			t.Fatalf("%d %v:\n got %s\nwant %s", i, tc.hdrs, got, tc.want)
		}
	}
	// The purge message ended schedule s.sched.d.
	subjs := subjectCounts(t, nc, "S")
	if _, ok := subjs["s.sched.d"]; ok || subjs["s.sched.e"] != 1.0 {
		t.Fatalf("subjects after purge: %v", subjs)
	}
	// The stored schedule carries the subject roll-up it implies.
	h, _, _ := lastMsg(t, nc, "S", "s.sched.e")
	if !strings.HasSuffix(h, "Nats-Rollup: sub\r\n\r\n") {
		t.Fatalf("schedule headers %q", h)
	}
}

// An @every schedule produces copies on its target with the reference's
// headers; a newer schedule on the same subject replaces it; an @at in
// the past fires once and removes itself.
func TestJetStreamScheduleProduces(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"],"allow_msg_schedules":true}`)
	if got := pubHdr(t, nc, "s.sched.a", "payload-a", time.Second, "Nats-Schedule: @every 1s",
		"Nats-Schedule-Target: s.out.a", "Nats-Msg-Id: once", "Nats-Expected-Stream: S"); got != `{"stream":"S","seq":1}` {
		t.Fatalf("schedule: %s", got)
	}
	waitFor(t, 5*time.Second, "two produced messages", func() bool {
		return subjectCounts(t, nc, "S")["s.out.a"] == 2.0
	})
	h, d, _ := lastMsg(t, nc, "S", "s.out.a")
	const prefix = "NATS/1.0\r\nNats-Scheduler: s.sched.a\r\nNats-Schedule-Next: "
	next, ok := strings.CutPrefix(h, prefix)
	if !ok || d != "payload-a" {
		t.Fatalf("produced %q %q", h, d)
	}
	when, err := time.Parse(time.RFC3339Nano, strings.TrimSuffix(next, "\r\n\r\n"))
	if err != nil || when.Nanosecond() != 0 || time.Until(when) > 2*time.Second {
		t.Fatalf("Nats-Schedule-Next %q: %v", next, err)
	}
	// Replace it with a one-shot in the past: it fires at once, then the
	// schedule is gone and nothing more is produced.
	pubHdr(t, nc, "s.sched.a", "payload-b", time.Second, "Nats-Schedule: @at 2020-01-01T00:00:00Z",
		"Nats-Schedule-Target: s.out.b", "Keep: me")
	waitFor(t, 5*time.Second, "the one-shot message", func() bool {
		subjs := subjectCounts(t, nc, "S")
		_, sched := subjs["s.sched.a"]
		return subjs["s.out.b"] == 1.0 && !sched
	})
	h, d, _ = lastMsg(t, nc, "S", "s.out.b")
	if h != "NATS/1.0\r\nKeep: me\r\nNats-Scheduler: s.sched.a\r\nNats-Schedule-Next: purge\r\n\r\n" || d != "payload-b" {
		t.Fatalf("one-shot produced %q %q", h, d)
	}
	n := subjectCounts(t, nc, "S")["s.out.a"]
	time.Sleep(1500 * time.Millisecond) // nothing to await: the replaced schedule must stay silent
	if got := subjectCounts(t, nc, "S")["s.out.a"]; got != n {
		t.Fatalf("replaced schedule still fires: %v -> %v", n, got)
	}
}

// Schedules live in the store: after a restart an @every schedule goes on
// and a one-shot due while the server was down fires once.
func TestJetStreamScheduleSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := runJSDir(t, dir)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"],"allow_msg_schedules":true}`)
	at := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	pubHdr(t, nc, "s.sched.once", "later", time.Second, "Nats-Schedule: @at "+at, "Nats-Schedule-Target: s.out.once")
	pubHdr(t, nc, "s.sched.tick", "tick", time.Second, "Nats-Schedule: @every 1s", "Nats-Schedule-Target: s.out.tick")
	nc.Close()
	s.Shutdown()
	s.WaitForShutdown()

	s = runJSDir(t, dir)
	nc = connect(t, s)
	waitFor(t, 6*time.Second, "both schedules firing after the restart", func() bool {
		subjs := subjectCounts(t, nc, "S")
		_, once := subjs["s.sched.once"]
		return subjs["s.out.once"] == 1.0 && !once && subjs["s.out.tick"] != nil && subjs["s.out.tick"].(float64) >= 2
	})
	if _, d, _ := lastMsg(t, nc, "S", "s.out.once"); d != "later" {
		t.Fatalf("one-shot payload %q", d)
	}
}

// A schedule with a source sends the source's last message (or its own
// while the source has none); a cron schedule's next time is written in
// its time zone, as the reference does.
func TestJetStreamScheduleSourceAndZone(t *testing.T) {
	if _, err := time.LoadLocation("Europe/Paris"); err != nil {
		t.Skip("no time zone database")
	}
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.SS", `{"name":"SS","subjects":["ss.>"],"allow_msg_schedules":true}`)
	pubHdr(t, nc, "ss.src", "srcpayload", time.Second)
	pubHdr(t, nc, "ss.sched.c", "x", time.Second, "Nats-Schedule: * * * * * *", "Nats-Schedule-Target: ss.out.c",
		"Nats-Schedule-Time-Zone: Europe/Paris")
	pubHdr(t, nc, "ss.sched.s", "own", time.Second, "Nats-Schedule: @every 1s", "Nats-Schedule-Target: ss.out.s",
		"Nats-Schedule-Source: ss.src", "Mine: not-sent")
	pubHdr(t, nc, "ss.sched.n", "own", time.Second, "Nats-Schedule: @every 1s", "Nats-Schedule-Target: ss.out.n",
		"Nats-Schedule-Source: ss.none")
	waitFor(t, 5*time.Second, "all three schedules fired", func() bool {
		subjs := subjectCounts(t, nc, "SS")
		return subjs["ss.out.c"] != nil && subjs["ss.out.s"] != nil && subjs["ss.out.n"] != nil
	})
	h, d, _ := lastMsg(t, nc, "SS", "ss.out.c")
	next := strings.TrimSuffix(strings.TrimPrefix(h, "NATS/1.0\r\nNats-Scheduler: ss.sched.c\r\nNats-Schedule-Next: "), "\r\n\r\n")
	if when, err := time.Parse(time.RFC3339, next); err != nil || d != "x" || !strings.HasSuffix(next, "+01:00") && !strings.HasSuffix(next, "+02:00") || when.IsZero() {
		t.Fatalf("cron produced %q %q", h, d)
	}
	h, d, _ = lastMsg(t, nc, "SS", "ss.out.s")
	if !strings.HasPrefix(h, "NATS/1.0\r\nNats-Scheduler: ss.sched.s\r\nNats-Schedule-Next: ") || d != "srcpayload" {
		t.Fatalf("sourced produced %q %q", h, d)
	}
	if _, d, _ = lastMsg(t, nc, "SS", "ss.out.n"); d != "own" {
		t.Fatalf("missing source produced %q", d)
	}
}
