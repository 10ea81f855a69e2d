package test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvSetup starts a JetStream server and returns a client, its jetstream
// handle and a context bounding the test's requests.
func kvSetup(t *testing.T) (*nats.Conn, jetstream.JetStream, context.Context) {
	t.Helper()
	s, _ := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return nc, js, ctx
}

// kvBucket creates a bucket or fails the test.
func kvBucket(ctx context.Context, t *testing.T, js jetstream.JetStream, cfg jetstream.KeyValueConfig) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatalf("create bucket %s: %v", cfg.Bucket, err)
	}
	return kv
}

// kvPut puts a value and returns its revision.
func kvPut(ctx context.Context, t *testing.T, kv jetstream.KeyValue, key, val string) uint64 {
	t.Helper()
	rev, err := kv.Put(ctx, key, []byte(val))
	if err != nil {
		t.Fatalf("put %s=%s: %v", key, val, err)
	}
	return rev
}

// kvWant checks an entry's key, value, revision and operation.
func kvWant(t *testing.T, what string, e jetstream.KeyValueEntry, key, val string, rev uint64, op jetstream.KeyValueOp) {
	t.Helper()
	if e == nil {
		t.Fatalf("%s: no entry, want %s=%q rev %d", what, key, val, rev)
	}
	if e.Key() != key || string(e.Value()) != val || e.Revision() != rev || e.Operation() != op {
		t.Fatalf("%s: got %s=%q rev %d %v, want %s=%q rev %d %v", what,
			e.Key(), e.Value(), e.Revision(), e.Operation(), key, val, rev, op)
	}
}

// kvAPIErr checks that err carries the API error code and description.
func kvAPIErr(t *testing.T, what string, err error, code uint16, desc string) {
	t.Helper()
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || uint16(apiErr.ErrorCode) != code || apiErr.Description != desc {
		t.Fatalf("%s: got %v, want API error %d %q", what, err, code, desc)
	}
}

// watchNext returns the watcher's next entry (nil is the end of the
// initial values); it fails after two seconds without one.
func watchNext(t *testing.T, w jetstream.KeyWatcher) jetstream.KeyValueEntry {
	t.Helper()
	select {
	case e, ok := <-w.Updates():
		if !ok {
			t.Fatal("watcher closed")
		}
		return e
	case <-time.After(2 * time.Second):
		t.Fatal("watcher: no update within 2s")
	}
	return nil
}

// watchQuiet checks that the watcher has nothing more for a short while.
func watchQuiet(t *testing.T, w jetstream.KeyWatcher) {
	t.Helper()
	select {
	case e := <-w.Updates():
		if e != nil {
			t.Fatalf("unexpected update %s=%q rev %d", e.Key(), e.Value(), e.Revision())
		}
		t.Fatal("unexpected second end-of-initial-values marker")
	case <-time.After(100 * time.Millisecond):
	}
}

// watchAll collects a watcher's initial values up to its nil marker.
func watchAll(t *testing.T, w jetstream.KeyWatcher) []jetstream.KeyValueEntry {
	t.Helper()
	var out []jetstream.KeyValueEntry
	for i := 0; i < 1000; i++ {
		e := watchNext(t, w)
		if e == nil {
			return out
		}
		out = append(out, e)
	}
	t.Fatal("watcher: no end of initial values")
	return nil
}

// A bucket is a stream with the reference's KV settings: history is
// max_msgs_per_subject, TTL max_age, LimitMarkerTTL the delete marker TTL
// with per-message TTLs on; create is idempotent for the same config and
// refused for another; update, list and delete work.
func TestKVBucketConfig(t *testing.T) {
	_, js, ctx := kvSetup(t)
	kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "B2", Description: "d", MaxValueSize: 100,
		History: 10, TTL: time.Hour, MaxBytes: 1 << 20, Storage: jetstream.MemoryStorage, Compression: true,
		RePublish: &jetstream.RePublish{Source: ">", Destination: "rp.>"}, LimitMarkerTTL: time.Minute,
		Metadata: map[string]string{"team": "kv"}})
	st, err := js.Stream(ctx, "KV_B2")
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.Subjects[0] != "$KV.B2.>" || c.MaxMsgsPerSubject != 10 || c.MaxAge != time.Hour || c.MaxMsgSize != 100 ||
		c.MaxBytes != 1<<20 || c.Storage != jetstream.MemoryStorage || c.Compression != jetstream.S2Compression ||
		c.RePublish == nil || c.RePublish.Destination != "rp.>" || !c.AllowMsgTTL || c.SubjectDeleteMarkerTTL != time.Minute ||
		!c.DenyDelete || !c.AllowRollup || !c.AllowDirect || c.Discard != jetstream.DiscardNew ||
		c.Duplicates != 2*time.Minute || c.Metadata["team"] != "kv" || c.Metadata["_nats.req.level"] != "1" {
		t.Fatalf("bucket stream config: %+v", c)
	}

	kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "B1"})
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B1"}); err != nil {
		t.Fatalf("same config again: %v", err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B1", History: 3}); !errors.Is(err, jetstream.ErrBucketExists) {
		t.Fatalf("other config: %v, want bucket exists", err)
	}
	if _, err := js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B1", History: 3}); err != nil {
		t.Fatalf("update: %v", err)
	}
	kv, err := js.KeyValue(ctx, "B1")
	if err != nil {
		t.Fatal(err)
	}
	status, err := kv.Status(ctx)
	if err != nil || status.History() != 3 || status.Bucket() != "B1" || status.IsCompressed() || status.TTL() != 0 {
		t.Fatalf("status after update: %+v %v", status, err)
	}
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B4", TTL: time.Second, LimitMarkerTTL: time.Millisecond})
	kvAPIErr(t, "limit marker 1ms", err, 10052, "subject delete marker TTL must be at least 1 second")

	var names []string
	lister := js.KeyValueStoreNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	slices.Sort(names)
	if lister.Error() != nil || !slices.Equal(names, []string{"B1", "B2"}) {
		t.Fatalf("bucket names %v %v", names, lister.Error())
	}
	if err := js.DeleteKeyValue(ctx, "B2"); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, "B2"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := js.KeyValue(ctx, "B2"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("deleted bucket: %v", err)
	}
}

// Put, Get, Create and Update count revisions as the stream sequence does
// and refuse a stale revision with the reference's error; Delete and Purge
// leave markers, after which Create works again; a value over
// max_value_size is refused. File and memory buckets behave alike.
func TestKVPutGetCreateUpdate(t *testing.T) {
	_, js, ctx := kvSetup(t)
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		t.Run(storage.String(), func(t *testing.T) {
			bucket := "O" + storage.String()
			kv := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: bucket, History: 5, MaxValueSize: 64, Storage: storage})
			kvPutGetCreateUpdate(ctx, t, js, kv, bucket)
		})
	}
}

func kvPutGetCreateUpdate(ctx context.Context, t *testing.T, js jetstream.JetStream, kv jetstream.KeyValue, bucket string) {
	if r := kvPut(ctx, t, kv, "k1", "v1"); r != 1 {
		t.Fatalf("first revision %d", r)
	}
	if r := kvPut(ctx, t, kv, "k1", "v2"); r != 2 {
		t.Fatalf("second revision %d", r)
	}
	e, err := kv.Get(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	kvWant(t, "get", e, "k1", "v2", 2, jetstream.KeyValuePut)
	e, err = kv.GetRevision(ctx, "k1", 1)
	if err != nil {
		t.Fatal(err)
	}
	kvWant(t, "get revision 1", e, "k1", "v1", 1, jetstream.KeyValuePut)

	if _, err = kv.Create(ctx, "k1", []byte("x")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create existing: %v", err)
	}
	kvAPIErr(t, "create existing", err, 10071, "wrong last sequence: 2")
	if r, err := kv.Create(ctx, "k2", []byte("c")); err != nil || r != 3 {
		t.Fatalf("create: %d %v", r, err)
	}
	if _, err := kv.Update(ctx, "k2", []byte("u"), 1); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("stale update: %v", err)
	}
	if r, err := kv.Update(ctx, "k2", []byte("u"), 3); err != nil || r != 4 {
		t.Fatalf("update: %d %v", r, err)
	}
	if _, err := kv.GetRevision(ctx, "k2", 1); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("revision of another key: %v", err)
	}
	if _, err := kv.Get(ctx, "none"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	_, err = kv.Put(ctx, "big", []byte(strings.Repeat("x", 65)))
	kvAPIErr(t, "over max_value_size", err, 10054, "message size exceeds maximum allowed")
	for _, key := range []string{"a.b.c", "a/b=c", "_x-y"} {
		kvPut(ctx, t, kv, key, key)
	}

	if err := kv.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "k1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if err := kv.Delete(ctx, "k2", jetstream.LastRevision(1)); err == nil {
		t.Fatal("delete with a stale revision accepted")
	}
	if r, err := kv.Create(ctx, "k1", []byte("again")); err != nil || r != 9 {
		t.Fatalf("create after delete: %d %v", r, err)
	}
	if err := kv.Purge(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(ctx, "KV_"+bucket)
	m, err := st.GetLastMsgForSubject(ctx, "$KV."+bucket+".k1")
	if err != nil || m.Sequence != 10 || m.Header.Get("KV-Operation") != "PURGE" || m.Header.Get("Nats-Rollup") != "sub" {
		t.Fatalf("purge marker: %+v %v", m, err)
	}
	if _, err := st.GetMsg(ctx, 9); err == nil {
		t.Fatal("purge kept an earlier revision of the key")
	}
	if r, err := kv.Create(ctx, "k1", []byte("third")); err != nil || r != 11 {
		t.Fatalf("create after purge: %d %v", r, err)
	}
	status, err := kv.Status(ctx)
	// k1's purge marker and value (10, 11), k2 (3, 4), the three others.
	if err != nil || status.Values() != 7 {
		t.Fatalf("status values %d %v", status.Values(), err)
	}
	if status.Bytes() == 0 || status.BackingStore() != "JetStream" {
		t.Fatalf("status %+v", status)
	}
}

// History keeps the bucket's history per key, delete markers included;
// Keys and ListKeys leave deleted keys out and take filters; PurgeDeletes
// removes delete markers (all of them with a negative threshold, only
// their older revisions otherwise).
func TestKVHistoryKeysPurgeDeletes(t *testing.T) {
	_, js, ctx := kvSetup(t)
	kv := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "H", History: 3})
	for i := 0; i < 5; i++ {
		kvPut(ctx, t, kv, "k", fmt.Sprint(i))
	}
	kvPut(ctx, t, kv, "j.1", "j1")
	kvPut(ctx, t, kv, "j.2", "j2")
	h, err := kv.History(ctx, "k")
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %d entries, %v", len(h), err)
	}
	for i, e := range h {
		kvWant(t, "history", e, "k", fmt.Sprint(i+2), uint64(i+3), jetstream.KeyValuePut)
	}
	if err := kv.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	h, err = kv.History(ctx, "k")
	if err != nil || len(h) != 3 {
		t.Fatalf("history after delete: %d entries, %v", len(h), err)
	}
	kvWant(t, "delete marker", h[2], "k", "", 8, jetstream.KeyValueDelete)
	if _, err := kv.History(ctx, "none"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("history of a missing key: %v", err)
	}

	keys, err := kv.Keys(ctx)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"j.1", "j.2"}) {
		t.Fatalf("keys %v %v", keys, err)
	}
	lister, err := kv.ListKeysFiltered(ctx, "j.2", "k")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for k := range lister.Keys() {
		listed = append(listed, k)
	}
	if !slices.Equal(listed, []string{"j.2"}) {
		t.Fatalf("filtered keys %v", listed)
	}

	// A fresh delete marker keeps itself (only older revisions go).
	if err := kv.PurgeDeletes(ctx); err != nil {
		t.Fatal(err)
	}
	kvStreamMsgs(ctx, t, js, "KV_H", 3)
	if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		t.Fatal(err)
	}
	kvStreamMsgs(ctx, t, js, "KV_H", 2)
	if _, err := kv.History(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("history after purge deletes: %v", err)
	}
}

// kvStreamMsgs checks a bucket stream's message count.
func kvStreamMsgs(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string, want uint64) {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != want {
		t.Fatalf("%s holds %d messages, want %d", stream, n, want)
	}
}

// Watchers get the latest value of every key, then nil, then live
// updates; with IncludeHistory every revision; with UpdatesOnly only what
// comes after; MetaOnly drops values, IgnoreDeletes drops markers;
// filters and ResumeFromRevision select as the reference does.
func TestKVWatch(t *testing.T) {
	_, js, ctx := kvSetup(t)
	kv := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "W", History: 3})
	kvPut(ctx, t, kv, "a.1", "1")
	kvPut(ctx, t, kv, "a.1", "2")
	kvPut(ctx, t, kv, "b.1", "3")
	if err := kv.Delete(ctx, "b.1"); err != nil {
		t.Fatal(err)
	}

	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := watchAll(t, w)
	if len(got) != 2 {
		t.Fatalf("initial values: %d", len(got))
	}
	kvWant(t, "latest a.1", got[0], "a.1", "2", 2, jetstream.KeyValuePut)
	kvWant(t, "latest b.1", got[1], "b.1", "", 4, jetstream.KeyValueDelete)
	if got[0].Delta() != 1 || got[1].Delta() != 0 {
		t.Fatalf("deltas %d %d", got[0].Delta(), got[1].Delta())
	}
	kvPut(ctx, t, kv, "c", "live")
	kvWant(t, "live update", watchNext(t, w), "c", "live", 5, jetstream.KeyValuePut)
	watchQuiet(t, w)
	w.Stop()

	w, err = kv.WatchAll(ctx, jetstream.IncludeHistory())
	if err != nil {
		t.Fatal(err)
	}
	if got := watchAll(t, w); len(got) != 5 || got[0].Revision() != 1 || got[4].Revision() != 5 {
		t.Fatalf("with history: %d entries", len(got))
	}
	w.Stop()

	w, err = kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	kvPut(ctx, t, kv, "d", "upd")
	kvWant(t, "updates only", watchNext(t, w), "d", "upd", 6, jetstream.KeyValuePut)
	watchQuiet(t, w)
	w.Stop()

	w, err = kv.WatchAll(ctx, jetstream.MetaOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	got = watchAll(t, w)
	if len(got) != 3 {
		t.Fatalf("meta only, ignore deletes: %d entries", len(got))
	}
	kvWant(t, "meta only", got[0], "a.1", "", 2, jetstream.KeyValuePut)
	w.Stop()

	w, err = kv.WatchFiltered(ctx, []string{"a.*", "d"})
	if err != nil {
		t.Fatal(err)
	}
	got = watchAll(t, w)
	if len(got) != 2 || got[0].Key() != "a.1" || got[1].Key() != "d" {
		t.Fatalf("filtered: %v", got)
	}
	w.Stop()

	w, err = kv.WatchAll(ctx, jetstream.ResumeFromRevision(4), jetstream.IncludeHistory())
	if err != nil {
		t.Fatal(err)
	}
	if got := watchAll(t, w); len(got) != 3 || got[0].Revision() != 4 {
		t.Fatalf("resumed: %d entries", len(got))
	}
	w.Stop()
}

// KeyTTL stores Nats-TTL with the value; when it expires the key is gone
// and the limit marker (Nats-Marker-Reason: MaxAge) says so, which a
// watcher sees as a purge. A bucket without LimitMarkerTTL refuses
// per-key TTLs with the reference's error.
func TestKVKeyTTLAndLimitMarkers(t *testing.T) {
	_, js, ctx := kvSetup(t)
	kv := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "T", LimitMarkerTTL: time.Second})
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if watchNext(t, w) != nil {
		t.Fatal("empty bucket: want the end of initial values")
	}
	if r, err := kv.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second)); err != nil || r != 1 {
		t.Fatalf("create with TTL: %d %v", r, err)
	}
	st, _ := js.Stream(ctx, "KV_T")
	m, err := st.GetMsg(ctx, 1)
	if err != nil || m.Header.Get("Nats-TTL") != "1s" {
		t.Fatalf("stored TTL: %+v %v", m, err)
	}
	kvWant(t, "watched put", watchNext(t, w), "k", "v", 1, jetstream.KeyValuePut)
	kvWant(t, "watched limit marker", watchNext(t, w), "k", "", 2, jetstream.KeyValuePurge)
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("expired key: %v", err)
	}
	m, err = st.GetLastMsgForSubject(ctx, "$KV.T.k")
	if err != nil || m.Sequence != 2 || m.Header.Get("Nats-Marker-Reason") != "MaxAge" || m.Header.Get("Nats-TTL") != "1s" {
		t.Fatalf("limit marker: %+v %v", m, err)
	}
	if err := kv.Purge(ctx, "x", jetstream.PurgeTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	m, err = st.GetLastMsgForSubject(ctx, "$KV.T.x")
	if err != nil || m.Header.Get("KV-Operation") != "PURGE" || m.Header.Get("Nats-TTL") != "1s" {
		t.Fatalf("purge marker with TTL: %+v %v", m, err)
	}
	w.Stop()

	plain := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "T2"})
	_, err = plain.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second))
	kvAPIErr(t, "TTL without limit markers", err, 10166, "per-message TTL is disabled")
}

// A bucket with republish sends every change to its destination with the
// stream headers.
func TestKVRepublish(t *testing.T) {
	nc, js, ctx := kvSetup(t)
	kv := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "R",
		RePublish: &jetstream.RePublish{Source: "$KV.R.>", Destination: "rp.>"}})
	sub, err := nc.SubscribeSync("rp.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	kvPut(ctx, t, kv, "a", "1")
	kvPut(ctx, t, kv, "a", "2")
	for i := 1; i <= 2; i++ {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "rp.a" || string(m.Data) != fmt.Sprint(i) || m.Header.Get("Nats-Stream") != "KV_R" ||
			m.Header.Get("Nats-Sequence") != fmt.Sprint(i) || m.Header.Get("Nats-Last-Sequence") != fmt.Sprint(i-1) {
			t.Fatalf("republished: %s %q %v", m.Subject, m.Data, m.Header)
		}
	}
}

// A mirror bucket copies its origin and, with mirror direct, answers gets
// for the origin's keys; a bucket sourcing another takes its keys under
// its own prefix.
func TestKVMirrorAndSources(t *testing.T) {
	_, js, ctx := kvSetup(t)
	src := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "SRC", History: 2})
	kvPut(ctx, t, src, "a", "1")
	kvPut(ctx, t, src, "b", "2")
	kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "MIR", Mirror: &jetstream.StreamSource{Name: "SRC"}})
	st, err := js.Stream(ctx, "KV_MIR")
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.Mirror == nil || c.Mirror.Name != "KV_SRC" || !c.MirrorDirect || len(c.Subjects) != 0 {
		t.Fatalf("mirror bucket config: %+v", c)
	}
	waitFor(t, 5*time.Second, "mirror copy", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 2
	})
	agg := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "AGG", Sources: []*jetstream.StreamSource{{Name: "SRC"}}})
	kvPut(ctx, t, src, "c", "3")
	waitFor(t, 5*time.Second, "sourced keys", func() bool {
		_, err := agg.Get(ctx, "c")
		return err == nil
	})
	e, err := agg.Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	kvWant(t, "sourced key", e, "b", "2", 2, jetstream.KeyValuePut)
	keys, err := agg.Keys(ctx)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"a", "b", "c"}) {
		t.Fatalf("sourced keys %v %v", keys, err)
	}
}

// The legacy nats.JetStreamContext KV API works the same way.
func TestKVLegacyAPI(t *testing.T) {
	nc, _, _ := kvSetup(t)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "L", History: 4, Storage: nats.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := kv.Put("k", []byte("1")); err != nil || r != 1 {
		t.Fatalf("put: %d %v", r, err)
	}
	if _, err := kv.Create("k", []byte("x")); !errors.Is(err, nats.ErrKeyExists) {
		t.Fatalf("create existing: %v", err)
	}
	if r, err := kv.Update("k", []byte("2"), 1); err != nil || r != 2 {
		t.Fatalf("update: %d %v", r, err)
	}
	e, err := kv.Get("k")
	if err != nil || string(e.Value()) != "2" || e.Revision() != 2 {
		t.Fatalf("get: %v %v", e, err)
	}
	w, err := kv.WatchAll()
	if err != nil {
		t.Fatal(err)
	}
	legacyNext := func() nats.KeyValueEntry {
		select {
		case e := <-w.Updates():
			return e
		case <-time.After(2 * time.Second):
			t.Fatal("legacy watcher: no update")
		}
		return nil
	}
	if e := legacyNext(); e == nil || e.Key() != "k" || e.Revision() != 2 {
		t.Fatalf("legacy watch initial: %v", e)
	}
	if e := legacyNext(); e != nil {
		t.Fatalf("legacy watch: want end of initial values, got %v", e)
	}
	if err := kv.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if e := legacyNext(); e == nil || e.Operation() != nats.KeyValueDelete || e.Revision() != 3 {
		t.Fatalf("legacy watch delete: %v", e)
	}
	w.Stop()
	if _, err := kv.Get("k"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	h, err := kv.History("k")
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %d %v", len(h), err)
	}
	kv.Put("j", []byte("j"))
	if keys, err := kv.Keys(); err != nil || !slices.Equal(keys, []string{"j"}) {
		t.Fatalf("keys %v %v", keys, err)
	}
	if err := kv.Purge("j"); err != nil {
		t.Fatal(err)
	}
	status, err := kv.Status()
	if err != nil || status.Values() != 4 || status.History() != 4 {
		t.Fatalf("status %v %v", status, err)
	}
	var names []string
	for n := range js.KeyValueStoreNames() {
		names = append(names, n)
	}
	if !slices.Equal(names, []string{"L"}) {
		t.Fatalf("names %v", names)
	}
	if err := js.DeleteKeyValue("L"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue("L"); !errors.Is(err, nats.ErrBucketNotFound) {
		t.Fatalf("deleted bucket: %v", err)
	}
}

// A file bucket's values, history and revisions survive a clean restart
// and a kill -9 of the binary, and revisions continue after each.
func TestKVBinaryRestartKill9(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := jsConf(t, dir, port, fmt.Sprintf("store_dir: %q", dir+"/store"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p, js := startJSBin(t, conf, port)
	kv := kvBucket(ctx, t, js, jetstream.KeyValueConfig{Bucket: "D", History: 3})
	for i := 1; i <= 50; i++ {
		kvPut(ctx, t, kv, fmt.Sprintf("k%d", i%10), fmt.Sprint(i))
	}
	if err := kv.Delete(ctx, "k0"); err != nil {
		t.Fatal(err)
	}
	stopBin(t, p)
	p, js = startJSBin(t, conf, port)
	kv = kvCheckDurable(ctx, t, js, 41)
	if r := kvPut(ctx, t, kv, "k1", "52"); r != 52 {
		t.Fatalf("revision after restart %d, want 52", r)
	}
	p.cmd.Process.Kill()
	p.waitExit(5 * time.Second)
	_, js = startJSBin(t, conf, port)
	kv = kvCheckDurable(ctx, t, js, 52)
	if r := kvPut(ctx, t, kv, "k2", "53"); r != 53 {
		t.Fatalf("revision after kill -9 %d, want 53", r)
	}
}

// kvCheckDurable checks bucket D as TestKVBinaryRestartKill9 wrote it:
// k1 at revision k1Rev, k2..k9 at 40+i, k0 deleted, three revisions of k5.
func kvCheckDurable(ctx context.Context, t *testing.T, js jetstream.JetStream, k1Rev uint64) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(ctx, "D")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 9; i++ {
		e, err := kv.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatalf("k%d: %v", i, err)
		}
		want := uint64(40 + i)
		if i == 1 {
			want = k1Rev
		}
		if e.Revision() != want || string(e.Value()) != fmt.Sprint(want) {
			t.Fatalf("k%d: rev %d %q, want %d", i, e.Revision(), e.Value(), want)
		}
	}
	if _, err := kv.Get(ctx, "k0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("deleted k0: %v", err)
	}
	h, err := kv.History(ctx, "k5")
	if err != nil || len(h) != 3 || h[0].Revision() != 25 {
		t.Fatalf("history of k5 after restart: %d %v", len(h), err)
	}
	return kv
}
