package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStreamConfigJSON(t *testing.T) {
	cfg := StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Retention: WorkQueuePolicy, MaxConsumers: -1,
		MaxMsgs: -1, MaxBytes: -1, MaxAge: time.Hour, MaxMsgsPer: 5, Discard: DiscardNew, Storage: MemoryStorage,
		Replicas: 1, Duplicates: 2 * time.Minute, Compression: S2Compression, AllowMsgTTL: true}
	js, err := json.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"ORDERS"`, `"retention":"workqueue"`, `"max_consumers":-1`, `"max_age":3600000000000`,
		`"max_msgs_per_subject":5`, `"discard":"new"`, `"storage":"memory"`, `"num_replicas":1`,
		`"duplicate_window":120000000000`, `"compression":"s2"`, `"allow_msg_ttl":true`} {
		if !strings.Contains(string(js), want) {
			t.Fatalf("%s missing from %s", want, js)
		}
	}
	var back StreamConfig
	if err := json.Unmarshal(js, &back); err != nil || back.Retention != WorkQueuePolicy || back.Storage != MemoryStorage ||
		back.Discard != DiscardNew || back.Compression != S2Compression || back.MaxAge != time.Hour {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{`{"storage":"disk"}`, `{"retention":"forever"}`, `{"discard":"both"}`, `{"compression":"zstd"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"storage":"file","retention":"limits","discard":"OLD","compression":"none"}`), &back); err != nil ||
		back.Storage != FileStorage || back.Retention != LimitsPolicy || back.Discard != DiscardOld || back.Compression != NoCompression {
		t.Fatalf("defaults: %+v %v", back, err)
	}
}

func TestParseStoreCipher(t *testing.T) {
	for in, want := range map[string]StoreCipher{"chachapoly": ChaCha, "ChaCha": ChaCha, "aes": AES, "AES": AES} {
		if got, err := ParseStoreCipher(in); err != nil || got != want {
			t.Fatalf("%s: %v %v", in, got, err)
		}
	}
	if _, err := ParseStoreCipher("rot13"); err == nil {
		t.Fatal("accepted rot13")
	}
}
