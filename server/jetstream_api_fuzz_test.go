package server

import (
	"encoding/json"
	"testing"
)

// Every identifier the server raises is in the catalogue, with a code.
func TestJetStreamErrorCatalogue(t *testing.T) {
	if len(jsErrors) != 226 {
		t.Fatalf("catalogue has %d entries, want 226", len(jsErrors))
	}
	for _, id := range JSErrorIdentifiers() {
		if !JSErrorKnown(id) {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
	e := jsError(jsStreamWrongLastSeq, uint64(7))
	if e.Code != 400 || e.ErrCode != 10071 || e.Description != "wrong last sequence: 7" {
		t.Fatalf("constructor: %+v", e)
	}
}

// FuzzJSAPIStreamConfig decodes and validates arbitrary create bodies: it
// must never panic, and whatever is accepted must be a valid, re-encodable
// config with its defaults applied.
func FuzzJSAPIStreamConfig(f *testing.F) {
	for _, s := range []string{`{"name":"S"}`, `{"name":"S","subjects":["a.>","b"],"max_age":1000000000}`,
		`{"name":"S","storage":"memory","discard":"new","max_msgs_per_subject":1,"discard_new_per_subject":true}`,
		`{"name":"S","mirror":{"name":"X"}}`, `{bad`, `{"name":"S","retention":"bogus"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cfg, e := decodeStreamConfig(body, "S", nil, streamConfigLimits{strict: true})
		if e != nil {
			if e.ErrCode == 0 || e.Description == "" {
				t.Fatalf("error without code or text: %+v", e)
			}
			return
		}
		if cfg.Name != "S" || cfg.Replicas != 1 || (!cfg.isSourcing() && (len(cfg.Subjects) == 0 || cfg.Duplicates <= 0)) {
			t.Fatalf("accepted config without defaults: %+v", cfg)
		}
		if _, err := json.Marshal(cfg); err != nil {
			t.Fatal(err)
		}
		var r jsMsgGetRequest
		_ = decodeAPIRequest(body, &r)
		_ = isEmptyBody(body)
		_, _, _ = lookupAPIHandler(string(body))
	})
}
