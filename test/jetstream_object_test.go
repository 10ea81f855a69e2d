package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// objBucket creates an object store or fails the test.
func objBucket(ctx context.Context, t *testing.T, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) jetstream.ObjectStore {
	t.Helper()
	obs, err := js.CreateObjectStore(ctx, cfg)
	if err != nil {
		t.Fatalf("create object store %s: %v", cfg.Bucket, err)
	}
	return obs
}

// objData is n bytes of seeded random data and its digest as the object
// store writes it.
func objData(seed int64, n int) ([]byte, string) {
	data := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(data)
	sum := sha256.Sum256(data)
	return data, "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])
}

// objGet reads an object whole through the client, which checks its
// digest at the end.
func objGet(ctx context.Context, t *testing.T, obs jetstream.ObjectStore, name string) []byte {
	t.Helper()
	res, err := obs.Get(ctx, name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	defer res.Close()
	data, err := io.ReadAll(res)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return data
}

// Objects of several megabytes go in chunks and come back whole with
// their digest checked, from file and memory stores; replacing an object
// drops the old chunks; an empty object has no chunk.
func TestObjectPutGetChunked(t *testing.T) {
	_, js, ctx := kvSetup(t)
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		t.Run(storage.String(), func(t *testing.T) {
			bucket := "OBJ" + storage.String()
			obs := objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: bucket, Storage: storage, Compression: storage == jetstream.FileStorage})
			data, digest := objData(1, 3<<20+123)
			info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: "big"}, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			// The default chunk is 128 KiB.
			if info.Size != uint64(len(data)) || info.Chunks != 25 || info.Digest != digest || info.Bucket != bucket {
				t.Fatalf("put info %+v", info)
			}
			if got := objGet(ctx, t, obs, "big"); !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes back, want %d equal ones", len(got), len(data))
			}
			small, digest := objData(2, 1000)
			info, err = obs.Put(ctx, jetstream.ObjectMeta{Name: "big", Opts: &jetstream.ObjectMetaOptions{ChunkSize: 100}}, bytes.NewReader(small))
			if err != nil || info.Chunks != 10 || info.Digest != digest {
				t.Fatalf("replace: %+v %v", info, err)
			}
			if got := objGet(ctx, t, obs, "big"); !bytes.Equal(got, small) {
				t.Fatalf("replaced object: %d bytes", len(got))
			}
			// 10 chunks and one meta message: the old chunks are purged.
			kvStreamMsgs(ctx, t, js, "OBJ_"+bucket, 11)
			if info, err := obs.PutBytes(ctx, "empty", nil); err != nil || info.Chunks != 0 || info.Size != 0 {
				t.Fatalf("empty object: %+v %v", info, err)
			}
			if got, err := obs.GetBytes(ctx, "empty"); err != nil || len(got) != 0 {
				t.Fatalf("empty object back: %q %v", got, err)
			}
		})
	}
}

// An object store is a stream with the reference's settings; its status,
// list and names report it.
func TestObjectStoreConfigStatus(t *testing.T) {
	_, js, ctx := kvSetup(t)
	obs := objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: "S", Description: "files", TTL: time.Hour,
		Storage: jetstream.MemoryStorage, Metadata: map[string]string{"team": "obj"}})
	st, err := js.Stream(ctx, "OBJ_S")
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if !slices.Equal(c.Subjects, []string{"$O.S.C.>", "$O.S.M.>"}) || !c.AllowRollup || !c.AllowDirect ||
		c.Discard != jetstream.DiscardNew || c.MaxAge != time.Hour || c.Storage != jetstream.MemoryStorage {
		t.Fatalf("object store stream config: %+v", c)
	}
	if _, err := obs.PutString(ctx, "a", "hello"); err != nil {
		t.Fatal(err)
	}
	status, err := obs.Status(ctx)
	if err != nil || status.Bucket() != "S" || status.Description() != "files" || status.TTL() != time.Hour ||
		status.Storage() != jetstream.MemoryStorage || status.Sealed() || status.Size() == 0 ||
		status.Metadata()["team"] != "obj" || status.IsCompressed() {
		t.Fatalf("status %+v %v", status, err)
	}
	objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: "T"})
	var names []string
	lister := js.ObjectStoreNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	slices.Sort(names)
	if lister.Error() != nil || !slices.Equal(names, []string{"S", "T"}) {
		t.Fatalf("names %v %v", names, lister.Error())
	}
	if err := js.DeleteObjectStore(ctx, "T"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.ObjectStore(ctx, "T"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("deleted store: %v", err)
	}
}

// Metadata, headers and descriptions are kept and updated (a rename
// too); links resolve to their object, links to links and to deleted
// objects are refused; a deleted object is gone but visible with
// ShowDeleted; a sealed store takes no more objects.
func TestObjectMetaLinksDeleteSeal(t *testing.T) {
	_, js, ctx := kvSetup(t)
	obs := objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: "M"})
	meta := jetstream.ObjectMeta{Name: "doc", Description: "a doc",
		Headers: nats.Header{"Content-Type": []string{"text/plain"}}, Metadata: map[string]string{"v": "1"}}
	if _, err := obs.Put(ctx, meta, bytes.NewReader([]byte("body"))); err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, "doc")
	if err != nil || info.Description != "a doc" || info.Headers.Get("Content-Type") != "text/plain" || info.Metadata["v"] != "1" {
		t.Fatalf("info %+v %v", info, err)
	}
	if err := obs.UpdateMeta(ctx, "doc", jetstream.ObjectMeta{Name: "doc2", Description: "renamed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(ctx, "doc"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("old name after rename: %v", err)
	}
	if s, err := obs.GetString(ctx, "doc2"); err != nil || s != "body" {
		t.Fatalf("renamed object: %q %v", s, err)
	}

	target, _ := obs.GetInfo(ctx, "doc2")
	link, err := obs.AddLink(ctx, "ln", target)
	if err != nil || link.Opts == nil || link.Opts.Link == nil || link.Opts.Link.Name != "doc2" {
		t.Fatalf("link %+v %v", link, err)
	}
	if s, err := obs.GetString(ctx, "ln"); err != nil || s != "body" {
		t.Fatalf("through link: %q %v", s, err)
	}
	if _, err := obs.AddLink(ctx, "ln2", link); !errors.Is(err, jetstream.ErrNoLinkToLink) {
		t.Fatalf("link to link: %v", err)
	}
	other := objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: "M2"})
	if _, err := obs.AddBucketLink(ctx, "bl", other); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Get(ctx, "bl"); !errors.Is(err, jetstream.ErrCantGetBucket) {
		t.Fatalf("get bucket link: %v", err)
	}

	if err := obs.Delete(ctx, "doc2"); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(ctx, "doc2"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("deleted object: %v", err)
	}
	deleted, err := obs.GetInfo(ctx, "doc2", jetstream.GetObjectInfoShowDeleted())
	if err != nil || !deleted.Deleted || deleted.Size != 0 {
		t.Fatalf("deleted info %+v %v", deleted, err)
	}
	if _, err := obs.AddLink(ctx, "ln3", deleted); !errors.Is(err, jetstream.ErrNoLinkToDeleted) {
		t.Fatalf("link to deleted: %v", err)
	}

	if err := obs.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if status, err := obs.Status(ctx); err != nil || !status.Sealed() {
		t.Fatalf("sealed status %v", err)
	}
	if _, err := obs.PutString(ctx, "late", "x"); err == nil {
		t.Fatal("put into a sealed store accepted")
	}
}

// List returns the live objects (the deleted too when asked); a watcher
// gets the current objects, nil, then changes as they happen.
func TestObjectListWatch(t *testing.T) {
	_, js, ctx := kvSetup(t)
	obs := objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: "L"})
	if _, err := obs.List(ctx); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatalf("empty list: %v", err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := obs.PutString(ctx, name, name+name); err != nil {
			t.Fatal(err)
		}
	}
	if err := obs.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	objNames := func(infos []*jetstream.ObjectInfo, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, info := range infos {
			names = append(names, info.Name)
		}
		slices.Sort(names)
		return names
	}
	if got := objNames(obs.List(ctx)); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("list %v", got)
	}
	if got := objNames(obs.List(ctx, jetstream.ListObjectsShowDeleted())); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("list with deleted %v", got)
	}

	w, err := obs.Watch(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := func() *jetstream.ObjectInfo {
		t.Helper()
		select {
		case info := <-w.Updates():
			return info
		case <-time.After(2 * time.Second):
			t.Fatal("object watcher: no update within 2s")
		}
		return nil
	}
	for _, want := range []string{"a", "c"} {
		if info := next(); info == nil || info.Name != want || info.Size != 2 {
			t.Fatalf("watch initial: %+v, want %s", info, want)
		}
	}
	if info := next(); info != nil {
		t.Fatalf("watch: want end of initial values, got %+v", info)
	}
	if _, err := obs.PutString(ctx, "d", "dd"); err != nil {
		t.Fatal(err)
	}
	if info := next(); info == nil || info.Name != "d" {
		t.Fatalf("watch live: %+v", info)
	}
}

// A file object store's objects survive a clean restart and a kill -9 of
// the binary, digest and all.
func TestObjectBinaryRestartKill9(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := jsConf(t, dir, port, fmt.Sprintf("store_dir: %q", dir+"/store"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p, js := startJSBin(t, conf, port)
	obs := objBucket(ctx, t, js, jetstream.ObjectStoreConfig{Bucket: "D"})
	data, digest := objData(3, 2<<20+7)
	if _, err := obs.PutBytes(ctx, "blob", data); err != nil {
		t.Fatal(err)
	}
	stopBin(t, p)
	p, js = startJSBin(t, conf, port)
	obs = objRestartCheck(ctx, t, js, "blob", data, digest)
	second, digest2 := objData(4, 1<<20)
	if _, err := obs.PutBytes(ctx, "blob2", second); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Kill()
	p.waitExit(5 * time.Second)
	_, js = startJSBin(t, conf, port)
	objRestartCheck(ctx, t, js, "blob", data, digest)
	objRestartCheck(ctx, t, js, "blob2", second, digest2)
}

// objRestartCheck reads an object back after a restart.
func objRestartCheck(ctx context.Context, t *testing.T, js jetstream.JetStream, name string, data []byte, digest string) jetstream.ObjectStore {
	t.Helper()
	obs, err := js.ObjectStore(ctx, "D")
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil || info.Digest != digest || info.Size != uint64(len(data)) {
		t.Fatalf("%s info after restart: %+v %v", name, info, err)
	}
	if got := objGet(ctx, t, obs, name); !bytes.Equal(got, data) {
		t.Fatalf("%s after restart: %d bytes", name, len(got))
	}
	return obs
}
