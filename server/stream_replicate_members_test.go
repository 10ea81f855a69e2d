package server

import (
	"encoding/json"
	"testing"
)

// FuzzStreamReplSnapshot: a stream group's snapshot comes from the
// leader; a bad one is refused or its bad consumers skipped, never a
// crash, and a consumer name never leaves the store's directory.
func FuzzStreamReplSnapshot(f *testing.F) {
	f.Add([]byte(`{"last_seq":3,"consumers":[{"name":"D","meta":{"config":{"durable_name":"D","ack_policy":"explicit"},"created":"2026-01-01T00:00:00Z"},"state":{"delivered":{"consumer_seq":2,"stream_seq":2},"ack_floor":{"consumer_seq":1,"stream_seq":1}}}]}`))
	f.Add([]byte(`{"last_seq":1,"consumers":[{"name":"../x","meta":{}},{"name":"","meta":null},null]}`))
	f.Add([]byte(`{"consumers":[{"name":"a/b","meta":{"config":{}},"state":null}]}`))
	dir := f.TempDir()
	cfg := &StreamConfig{Name: "S", Subjects: []string{"s"}, Storage: FileStorage}
	setStreamDefaults(cfg)
	fs, err := NewFileStore(FileStoreConfig{Dir: dir}, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fs.Stop() })
	st := &stream{name: "S", store: fs}
	f.Fuzz(func(t *testing.T, data []byte) {
		var snap replSnapshot
		if json.Unmarshal(data, &snap) != nil {
			return
		}
		_ = st.restoreConsumers(snap.Consumers)
		for _, name := range fs.ConsumerNames() {
			if !snapConsumerNameOK(name) {
				t.Fatalf("a consumer named %q was stored", name)
			}
		}
	})
}

// A snapshot's consumers are stored on a replica that lacks them, with
// their state; bad names are skipped.
func TestStreamReplSnapshotConsumers(t *testing.T) {
	cfg := &StreamConfig{Name: "S", Subjects: []string{"s"}, Storage: FileStorage}
	setStreamDefaults(cfg)
	fs, err := NewFileStore(FileStoreConfig{Dir: t.TempDir()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Stop()
	st := &stream{name: "S", store: fs}
	var snap replSnapshot
	if err := json.Unmarshal([]byte(`{"last_seq":3,"consumers":[
		{"name":"D","meta":{"config":{"durable_name":"D"},"created":"2026-01-01T00:00:00Z"},"state":{"delivered":{"consumer_seq":2,"stream_seq":2},"ack_floor":{"consumer_seq":2,"stream_seq":2}}},
		{"name":"../../evil","meta":{"config":{}}}]}`), &snap); err != nil {
		t.Fatal(err)
	}
	if err := st.restoreConsumers(snap.Consumers); err != nil {
		t.Fatal(err)
	}
	if names := fs.ConsumerNames(); len(names) != 1 || names[0] != "D" {
		t.Fatalf("stored consumers %v", names)
	}
	sc, ok := st.storedConsumer("D")
	if !ok || sc.State.AckFloor.Stream != 2 {
		t.Fatalf("stored D: %+v %v", sc, ok)
	}
	// Taken again from the store for the next snapshot.
	if list := st.snapConsumers(); len(list) != 1 || list[0].Name != "D" {
		t.Fatalf("snapshot consumers %+v", list)
	}
}
