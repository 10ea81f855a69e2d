package test

import (
	"fmt"
	"testing"
	"time"
)

// Deleting a sequence that holds no message answers as the reference does
// (observed on v2.15.2): a memory stream always with 10043 "sequence N not
// found"; a file stream with 10057 and the store's words outside
// first..last, and 10043 for a gap between them. nats.c checks the memory
// form (JetStreamMgtStreams).
func TestJetStreamMsgDeleteNotFound(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	const eof = `500 10057 stream store EOF`
	const before = `500 10057 no message found`
	gap := func(seq int) string { return fmt.Sprintf("400 10043 sequence %d not found", seq) }
	for _, storage := range []string{"memory", "file"} {
		name := "D" + storage
		jsReq(t, nc, "$JS.API.STREAM.CREATE."+name, `{"name":"`+name+`","subjects":["`+name+`"],"storage":"`+storage+`"}`)
		pub := func(n int) {
			for i := 0; i < n; i++ {
				if _, err := nc.Request(name, []byte("x"), 2*time.Second); err != nil {
					t.Fatal(err)
				}
			}
		}
		del := func(seq int, want, memWant string) {
			t.Helper()
			if storage == "memory" {
				want = memWant
			}
			m := jsReq(t, nc, "$JS.API.STREAM.MSG.DELETE."+name, fmt.Sprintf(`{"seq":%d}`, seq))
			code, errCode, desc := apiErr(m)
			got := fmt.Sprintf("%.0f %.0f %s", code, errCode, desc)
			if want == "" && m["success"] != true || want != "" && got != want {
				t.Fatalf("%s: delete %d: got %v, want %q", storage, seq, m, want)
			}
		}
		del(2, eof, gap(2)) // empty stream
		pub(1)
		del(1, "", "")
		del(2, eof, gap(2))
		del(1, before, gap(1))
		del(0, before, gap(0))
		pub(4) // 2..5
		del(9, eof, gap(9))
		del(3, "", "")
		del(3, gap(3), gap(3))
		del(5, "", "")
		del(5, gap(5), gap(5)) // the last sequence stays 5
		del(2, "", "")
		del(2, before, gap(2)) // the first moved to 4
	}
}
