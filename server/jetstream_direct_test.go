package server

import "testing"

// FuzzDirectGetRequest decodes arbitrary direct get bodies, in both the
// body and the subject form: any input gets a request or a status, never
// a panic, and a request that passes the checks has something to get.
func FuzzDirectGetRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"seq":1}`, `{"seq":1,"batch":3,"max_bytes":9}`, `{"multi_last":["a.>"],"up_to_seq":4}`,
		`{"next_by_subj":"a.*","start_time":"2000-01-01T00:00:00Z"}`, `{"last_by_subj":"a","batch":2}`, `{bad`, `xyz`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, subjectForm bool) {
		var toks []string
		if subjectForm {
			toks = []string{"a", "b"}
		}
		req, status := decodeDirectGet(body, toks)
		if (req == nil) == (status == "") {
			t.Fatalf("request %v with status %q", req, status)
		}
		if req != nil && req.Seq == 0 && req.LastFor == "" && req.NextFor == "" && req.StartTime == nil && len(req.MultiLast) == 0 {
			t.Fatalf("nothing to get: %+v", req)
		}
	})
}
