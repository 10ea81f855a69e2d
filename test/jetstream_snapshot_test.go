package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// snapBackup runs STREAM.SNAPSHOT as `nats stream backup` does: ask, then
// subscribe to the deliver subject, acknowledge every chunk that has a
// reply, stop at the empty message. It returns the response and the
// archive, and the status of the end marker.
func snapBackup(t *testing.T, nc *nats.Conn, stream string, chunk, window int) (map[string]any, []byte, string) {
	t.Helper()
	deliver := nats.NewInbox()
	req := fmt.Sprintf(`{"deliver_subject":%q,"chunk_size":%d,"window_size":%d}`, deliver, chunk, window)
	resp := jsReq(t, nc, "$JS.API.STREAM.SNAPSHOT."+stream, req)
	if _, _, desc := apiErr(resp); desc != "" {
		t.Fatalf("snapshot: %v", resp)
	}
	sub, err := nc.SubscribeSync(deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var data bytes.Buffer
	for range 100000 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("snapshot chunk: %v", err)
		}
		if len(m.Data) == 0 {
			return resp, data.Bytes(), m.Header.Get("Status")
		}
		data.Write(m.Data)
		if m.Reply != "" {
			if !strings.HasPrefix(m.Reply, "$JS.SNAPSHOT.ACK."+stream+".") ||
				!strings.HasSuffix(m.Reply, fmt.Sprintf(".%d.%d", chunk, data.Len()/chunk)) {
				t.Fatalf("ack subject %q", m.Reply)
			}
			if err := m.Respond(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("snapshot never ended")
	return nil, nil, ""
}

// snapRestore runs STREAM.RESTORE as `nats stream restore` does and
// returns the final answer.
func snapRestore(t *testing.T, nc *nats.Conn, stream, cfg string, data []byte, chunk int) map[string]any {
	t.Helper()
	resp := jsReq(t, nc, "$JS.API.STREAM.RESTORE."+stream, `{"config":`+cfg+`}`)
	deliver, _ := resp["deliver_subject"].(string)
	if !strings.HasPrefix(deliver, "$JS.SNAPSHOT.RESTORE."+stream+".") {
		t.Fatalf("restore: %v", resp)
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		m, err := nc.Request(deliver, data[:n], 5*time.Second)
		if err != nil || len(m.Data) != 0 {
			t.Fatalf("chunk ack: %v %q", err, m.Data)
		}
		data = data[n:]
	}
	return jsReq(t, nc, deliver, "")
}

func streamState(t *testing.T, nc *nats.Conn, name string) map[string]any {
	t.Helper()
	info := jsReq(t, nc, "$JS.API.STREAM.INFO."+name, `{"deleted_details":true}`)
	st, _ := info["state"].(map[string]any)
	if st == nil {
		t.Fatalf("info %s: %v", name, info)
	}
	for _, k := range []string{"first_ts", "last_ts", "bytes"} {
		delete(st, k)
	}
	return st
}

// A file stream on an encrypted server, with headers, a deleted message,
// a purged head and a deleted tail, is backed up in small chunks under
// flow control, deleted, restored, and is the same stream again: state,
// deleted ranges, messages, and publishing continues after its last
// sequence. The archive is the reference's (NATSARC1) and nothing of the
// stream is readable on disk.
func TestJetStreamSnapshotRestoreRoundTrip(t *testing.T) {
	o := DefaultTestOptions()
	o.JetStream, o.StoreDir, o.JetStreamKey = true, t.TempDir(), "snap-secret-key"
	s := RunServer(t, o)
	nc := connect(t, s)
	const cfg = `{"name":"SNAP","subjects":["snapsubj.>"],"allow_direct":true,"max_msgs_per_subject":50,"description":"kept"}`
	jsReq(t, nc, "$JS.API.STREAM.CREATE.SNAP", cfg)
	for i := 1; i <= 300; i++ {
		m := &nats.Msg{Subject: fmt.Sprintf("snapsubj.%d", i%7), Data: []byte(fmt.Sprintf("confidentialpayload-%d-%s", i, strings.Repeat("z", i%90)))}
		if i%3 == 0 {
			m.Header = nats.Header{"Nats-Msg-Id": []string{fmt.Sprint("id", i)}}
		}
		if _, err := nc.RequestMsg(m, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	jsReq(t, nc, "$JS.API.STREAM.PURGE.SNAP", `{"seq":20}`)
	for _, seq := range []int{40, 41, 150, 300} {
		jsReq(t, nc, "$JS.API.STREAM.MSG.DELETE.SNAP", fmt.Sprintf(`{"seq":%d}`, seq))
	}
	want := streamState(t, nc, "SNAP")
	resp, arc, status := snapBackup(t, nc, "SNAP", 1024, 4096)
	if !bytes.Contains(arc, []byte("NATSARC1")) || status != "204" || len(arc) < 3*1024 {
		t.Fatalf("archive %d bytes, end %q", len(arc), status)
	}
	if c, _ := resp["config"].(map[string]any); c["description"] != "kept" || resp["state"] == nil {
		t.Fatalf("snapshot response %v", resp)
	}
	jsReq(t, nc, "$JS.API.STREAM.DELETE.SNAP", "")
	got := snapRestore(t, nc, "SNAP", cfg, arc, 700)
	if got["type"] != "io.nats.jetstream.api.v1.stream_create_response" || got["config"] == nil {
		t.Fatalf("restore answer %v", got)
	}
	if st := streamState(t, nc, "SNAP"); !reflect.DeepEqual(st, want) {
		t.Fatalf("restored state\n got %v\nwant %v", st, want)
	}
	m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.SNAP", `{"seq":99}`)["message"].(map[string]any)
	if m["subject"] != "snapsubj.1" || m["hdrs"] == nil || m["data"] == nil {
		t.Fatalf("restored message 99: %v", m)
	}
	ack, err := nc.Request("snapsubj.x", []byte("after"), 2*time.Second)
	if err != nil || !strings.Contains(string(ack.Data), `"seq":301`) {
		t.Fatalf("publish after restore: %s %v", ack.Data, err)
	}
	// The restored stream is an ordinary one: it is recovered at start-up.
	nc.Close()
	s.Shutdown()
	s = RunServer(t, o)
	nc = connect(t, s)
	want["last_seq"], want["messages"], want["num_subjects"] = float64(301), want["messages"].(float64)+1, want["num_subjects"].(float64)+1
	if st := streamState(t, nc, "SNAP"); fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("after restart\n got %v\nwant %v", st, want)
	}
	assertNoPlaintext(t, o.StoreDir, "confidentialpayload", "snapsubj", "SNAP")
}

// An archive written by the reference v2.15.2 (`nats stream backup`, kept
// in testdata, with a consumer) restores here with its messages, times,
// headers and deleted sequence; and a memory stream restores too.
func TestJetStreamRestoreReferenceArchive(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	arc, err := os.ReadFile(filepath.Join("testdata", "refbackup", "stream.arc.s2"))
	if err != nil {
		t.Fatal(err)
	}
	var bk struct {
		Config json.RawMessage `json:"config"`
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "refbackup", "backup.json"))
	if err := json.Unmarshal(b, &bk); err != nil {
		t.Fatal(err)
	}
	got := snapRestore(t, nc, "D", string(bk.Config), arc, 128)
	st, _ := got["state"].(map[string]any)
	if st == nil || st["messages"] != float64(4) || st["last_seq"] != float64(5) || st["num_deleted"] != float64(1) {
		t.Fatalf("restore: %v", got)
	}
	if got := streamState(t, nc, "D"); fmt.Sprint(got["deleted"]) != "[3]" {
		t.Fatalf("deleted %v", got)
	}
	m, err := nc.Request("$JS.API.DIRECT.GET.D", []byte(`{"seq":1}`), 2*time.Second)
	if err != nil || string(m.Data) != "one" || m.Header.Get("Foo") != "bar" ||
		m.Header.Get("Nats-Time-Stamp") != "2026-12-02T04:52:53.339143375Z" {
		t.Fatalf("message 1: %v %q %v", m.Header, m.Data, err)
	}
	// The same archive as a memory stream under another name.
	memCfg := strings.Replace(strings.Replace(string(bk.Config), `"file"`, `"memory"`, 1), `"d.\u003e"`, `"m.>"`, 1)
	memCfg = strings.Replace(memCfg, `"name": "D"`, `"name": "MEM"`, 1)
	got = snapRestore(t, nc, "MEM", memCfg, arc, 4096)
	if c, _ := got["config"].(map[string]any); c["storage"] != "memory" || c["name"] != "MEM" {
		t.Fatalf("memory restore: %v", got)
	}
	if _, arc2, status := snapBackup(t, nc, "MEM", 1024, 1024); status != "" || len(arc2) == 0 {
		t.Fatalf("memory snapshot: %d bytes, end %q", len(arc2), status)
	}
}

// Requests the reference refuses, with its JSON (observed on v2.15.2); a
// corrupt archive fails the restore with err 10062 and leaves no stream.
func TestJetStreamSnapshotRestoreErrors(t *testing.T) {
	s, dir := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.D", `{"name":"D","subjects":["d.>"]}`)
	const snap, rst = `{"type":"io.nats.jetstream.api.v1.stream_snapshot_response","error":`, `{"type":"io.nats.jetstream.api.v1.stream_restore_response","error":`
	for _, tc := range []struct{ subj, body, want string }{
		{"SNAPSHOT.D", ``, snap + `{"code":400,"err_code":10003,"description":"bad request"}}`},
		{"SNAPSHOT.D", `{}`, snap + `{"code":400,"err_code":10003,"description":"bad request"}}`},
		{"SNAPSHOT.D", `{"deliver_subject":"a.*"}`, snap + `{"code":400,"err_code":10015,"description":"deliver subject not valid"}}`},
		{"SNAPSHOT.NOPE", `{"deliver_subject":"x"}`, snap + `{"code":404,"err_code":10059,"description":"stream not found"}}`},
		{"SNAPSHOT.D", `{"deliver_subject":"y","zzz":1}`, snap + `{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"zzz\""}}`},
		{"SNAPSHOT.D", `xyz`, snap + `{"code":400,"err_code":10025,"description":"invalid JSON: invalid character 'x' looking for beginning of value at offset 1"}}`},
		{"RESTORE.D", `{"config":{"name":"D","subjects":["d.>"]},"state":{}}`, rst + `{"code":400,"err_code":10130,"description":"stream name already in use, cannot restore"},"deliver_subject":""}`},
		{"RESTORE.D3", ``, rst + `{"code":400,"err_code":10003,"description":"bad request"},"deliver_subject":""}`},
		{"RESTORE.D3", `{}`, rst + `{"code":400,"err_code":10003,"description":"bad request"},"deliver_subject":""}`},
		{"RESTORE.D3", `{"config":{"name":"X"}}`, rst + `{"code":400,"err_code":10056,"description":"stream name in subject does not match request"},"deliver_subject":""}`},
		{"RESTORE.D5", `{"config":{"name":"D5","zzz":1}}`, rst + `{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"zzz\""},"deliver_subject":""}`},
		{"RESTORE.D6", `{"config":{"name":"D6","max_age":-5}}`, rst + `{"code":500,"err_code":10052,"description":"max age can not be negative"},"deliver_subject":""}`},
	} {
		m, err := nc.Request("$JS.API.STREAM."+tc.subj, []byte(tc.body), 2*time.Second)
		if err != nil || string(m.Data) != tc.want {
			t.Errorf("%s %s:\n got %s %v\nwant %s", tc.subj, tc.body, m.Data, err, tc.want)
		}
	}
	// What a restore cut short by a crash left is removed by the next one.
	stale := filepath.Join(dir, "jetstream", server.DEFAULT_GLOBAL_ACCOUNT, "restore", "stale")
	if err := os.MkdirAll(stale, 0o750); err != nil {
		t.Fatal(err)
	}
	_, arc, _ := snapBackup(t, nc, "D", 1024, 1024)
	arc[len(arc)/2] ^= 0xff
	got := snapRestore(t, nc, "BAD", `{"name":"BAD","subjects":["bad"]}`, arc, 1024)
	if _, errCode, desc := apiErr(got); errCode != 10062 || !strings.HasPrefix(desc, "restore failed: ") {
		t.Fatalf("corrupt archive: %v", got)
	}
	// The overlap is found once the upload is complete, as the reference does.
	_, arc, _ = snapBackup(t, nc, "D", 1024, 1024)
	got = snapRestore(t, nc, "D7", `{"name":"D7","subjects":["d.x"]}`, arc, 1024)
	if _, _, desc := apiErr(got); desc != "restore failed: error adding stream: subjects overlap with an existing stream (10065)" {
		t.Fatalf("overlap: %v", got)
	}
	names := jsReq(t, nc, "$JS.API.STREAM.NAMES", "")
	if fmt.Sprint(names["streams"]) != "[D]" {
		t.Fatalf("streams after failed restores: %v", names)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "jetstream", server.DEFAULT_GLOBAL_ACCOUNT, "restore"))
	if len(entries) != 0 {
		t.Fatalf("restore leftovers: %v", entries)
	}
}

// The server keeps at most window/chunk chunks unacknowledged: a client
// that stops acknowledging gets no more, and each ack releases one chunk.
func TestJetStreamSnapshotFlowControl(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.F", `{"name":"F","subjects":["f"]}`)
	for i := range 200 {
		// Payloads that do not compress, so the archive spans many chunks.
		if _, err := nc.Request("f", []byte(fmt.Sprintf("%x", bytes.Repeat([]byte{byte(i * 37)}, 8))+nats.NewInbox()), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	deliver := nats.NewInbox()
	sub, err := nc.SubscribeSync(deliver)
	if err != nil {
		t.Fatal(err)
	}
	jsReq(t, nc, "$JS.API.STREAM.SNAPSHOT.F", fmt.Sprintf(`{"deliver_subject":%q,"chunk_size":1024,"window_size":2048}`, deliver))
	var held []*nats.Msg
	for range 2 {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil || m.Reply == "" {
			t.Fatalf("chunk: %v %v", m, err)
		}
		held = append(held, m)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("a third chunk came with two unacknowledged: %q", m.Reply)
	}
	held[0].Respond(nil)
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil || !strings.HasSuffix(m.Reply, ".1024.3") {
		t.Fatalf("chunk after an ack: %v %v", m, err)
	}
}

// A chunk published without a reply aborts the restore, as the reference
// does: the upload subject goes away and nothing is left on disk.
func TestJetStreamRestoreAbortedByChunkWithoutReply(t *testing.T) {
	s, dir := runJS(t)
	nc := connect(t, s)
	resp := jsReq(t, nc, "$JS.API.STREAM.RESTORE.AB", `{"config":{"name":"AB","subjects":["ab"]}}`)
	deliver, _ := resp["deliver_subject"].(string)
	if deliver == "" {
		t.Fatalf("restore: %v", resp)
	}
	if _, err := nc.Request(deliver, []byte("chunk"), 2*time.Second); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	if err := nc.Publish(deliver, []byte("no reply")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the upload subject to go", func() bool {
		// A chunk, not the empty end marker, which would end the restore.
		_, err := nc.Request(deliver, []byte("x"), time.Second)
		return err == nats.ErrNoResponders
	})
	tmp := filepath.Join(dir, "jetstream", server.DEFAULT_GLOBAL_ACCOUNT, "restore")
	waitFor(t, 5*time.Second, "the partial restore to be removed", func() bool {
		entries, _ := os.ReadDir(tmp)
		return len(entries) == 0
	})
	if names := jsReq(t, nc, "$JS.API.STREAM.NAMES", ""); names["streams"] != nil {
		t.Fatalf("streams: %v", names)
	}
}

// A message's TTL comes back from its Nats-TTL header when restored (the
// archive keeps no TTL, as the reference's): it still expires.
func TestJetStreamRestoreKeepsMessageTTL(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	const cfg = `{"name":"TTL","subjects":["ttl.>"],"allow_msg_ttl":true}`
	jsReq(t, nc, "$JS.API.STREAM.CREATE.TTL", cfg)
	for _, ttl := range []string{"1s", "never"} {
		m := &nats.Msg{Subject: "ttl." + ttl, Data: []byte("x"), Header: nats.Header{"Nats-TTL": []string{ttl}}}
		if r, err := nc.RequestMsg(m, 2*time.Second); err != nil || strings.Contains(string(r.Data), "error") {
			t.Fatalf("publish: %v %v", r, err)
		}
	}
	_, arc, _ := snapBackup(t, nc, "TTL", 1024, 1024)
	jsReq(t, nc, "$JS.API.STREAM.DELETE.TTL", "")
	got := snapRestore(t, nc, "TTL", cfg, arc, 1024)
	if st, _ := got["state"].(map[string]any); st == nil || st["messages"] != float64(2) {
		t.Fatalf("restore: %v", got)
	}
	waitFor(t, 5*time.Second, "the 1s message to expire", func() bool {
		return streamState(t, nc, "TTL")["messages"] == float64(1)
	})
	if m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.TTL", `{"last_by_subj":"ttl.never"}`); m["message"] == nil {
		t.Fatalf("the message without expiry: %v", m)
	}
}

// A snapshot and a restore are advised on $JS.EVENT.ADVISORY.STREAM:
// create when they start, complete (with the bytes restored) when done.
func TestJetStreamSnapshotRestoreAdvisories(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.>")
	if err != nil {
		t.Fatal(err)
	}
	jsReq(t, nc, "$JS.API.STREAM.CREATE.AD", `{"name":"AD","subjects":["ad"]}`)
	if _, err := nc.Request("ad", []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	_, arc, _ := snapBackup(t, nc, "AD", 1024, 1024)
	jsReq(t, nc, "$JS.API.STREAM.DELETE.AD", "")
	snapRestore(t, nc, "AD", `{"name":"AD","subjects":["ad"]}`, arc, 1024)
	want := map[string]string{
		"$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE.AD":   "io.nats.jetstream.advisory.v1.snapshot_create",
		"$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE.AD": "io.nats.jetstream.advisory.v1.snapshot_complete",
		"$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE.AD":    "io.nats.jetstream.advisory.v1.restore_create",
		"$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE.AD":  "io.nats.jetstream.advisory.v1.restore_complete",
	}
	for len(want) > 0 {
		m, err := adv.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("advisories missing: %v", want)
		}
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		typ, ok := want[m.Subject]
		if !ok {
			continue // created, deleted
		}
		if ev["type"] != typ || ev["stream"] != "AD" || ev["error"] != nil {
			t.Fatalf("%s: %s", m.Subject, m.Data)
		}
		if strings.HasSuffix(m.Subject, "RESTORE_COMPLETE.AD") && ev["bytes"] != float64(len(arc)) {
			t.Fatalf("restored bytes: %s (archive %d)", m.Data, len(arc))
		}
		delete(want, m.Subject)
	}
}
