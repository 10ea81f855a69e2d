package server

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzStreamConfigValidation feeds a create body and an update body
// through the stream config checks, strict and lenient, under a server
// duplicate-window cap. Nothing may panic; an accepted config must read
// back to itself when sent again (validation is idempotent), respect the
// cap, and an accepted update must keep what the reference forbids to
// change.
func FuzzStreamConfigValidation(f *testing.F) {
	for _, s := range [][2]string{
		{`{"name":"S"}`, `{"name":"S","subjects":["a.*"]}`},
		{`{"name":"S","storage":"memory","max_bytes":1000}`, `{"name":"S","storage":"file"}`},
		{`{"name":"S","deny_delete":true,"deny_purge":true}`, `{"name":"S"}`},
		{`{"name":"S","sealed":true}`, `{"name":"S"}`},
		{`{"name":"S","duplicate_window":30000000000,"max_age":60000000000}`, `{"name":"S","duplicate_window":120000000000}`},
		{`{"name":"S","placement":{"cluster":"c","tags":["t"]},"metadata":{"k":"v"}}`, `{"name":"S","placement":{"preferred":"x"}}`},
		{`{"name":"S","retention":"workqueue"}`, `{"name":"S","bogus":1}`},
		{`{"name":"S","discard":"new","max_msgs_per_subject":2,"discard_new_per_subject":true}`, `{"name":"S","num_replicas":3}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), true)
		f.Add([]byte(s[0]), []byte(s[1]), false)
	}
	f.Fuzz(func(t *testing.T, create, update []byte, strict bool) {
		lim := streamConfigLimits{strict: strict, maxDuplicates: time.Minute}
		old, e := decodeStreamConfig(create, "S", nil, lim)
		if e != nil {
			if e.ErrCode == 0 || e.Description == "" {
				t.Fatalf("error without code or text: %+v", e)
			}
			return
		}
		checkAccepted(t, old, lim)
		next, e := decodeStreamConfig(update, "S", old, lim)
		if e != nil {
			return
		}
		checkAccepted(t, next, lim)
		if next.Storage != old.Storage || (old.Sealed && !next.Sealed) || (old.DenyDelete && !next.DenyDelete) ||
			(old.DenyPurge && !next.DenyPurge) {
			t.Fatalf("update changed what may not change:\n old %+v\n new %+v", old, next)
		}
	})
}

// checkAccepted holds for every config the checks let through.
func checkAccepted(t *testing.T, cfg *StreamConfig, lim streamConfigLimits) {
	t.Helper()
	unset := cfg.Duplicates <= 0 || len(cfg.Subjects) == 0 // mirrors and sources have no defaults
	if (unset && !cfg.isSourcing()) || cfg.Duplicates > lim.maxDuplicates || cfg.Replicas != 1 {
		t.Fatalf("accepted %+v", cfg)
	}
	if p := cfg.Placement; p != nil && p.Preferred != "" {
		t.Fatalf("accepted a preferred server: %+v", p)
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, e := decodeStreamConfig(body, cfg.Name, nil, lim)
	if e != nil {
		t.Fatalf("accepted config %s refused when sent again: %+v", body, e)
	}
	if !reflect.DeepEqual(again, cfg) {
		t.Fatalf("validation not idempotent:\n first  %+v\n second %+v", cfg, again)
	}
}
