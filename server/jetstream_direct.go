package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Direct get ($JS.API.DIRECT.GET.<stream>[.<subject>]) answers with the
// stored message itself, not JSON, for streams with allow_direct. It
// arrives through the account's $JS.API.> subscription and runs on an API
// worker like every request. Batches and multi_last are part 2.

const (
	hdrDirectStream    = "Nats-Stream"
	hdrDirectSubject   = "Nats-Subject"
	hdrDirectSequence  = "Nats-Sequence"
	hdrDirectTimeStamp = "Nats-Time-Stamp"
)

// jsDirectGetRequest is the body of a direct get, decoded leniently as the
// reference does.
type jsDirectGetRequest struct {
	jsMsgGetRequest
	MultiLast []string   `json:"multi_last,omitempty"`
	UpToSeq   uint64     `json:"up_to_seq,omitempty"`
	UpToTime  *time.Time `json:"up_to_time,omitempty"`
}

// apiDirectGet answers itself (status lines or the message) and returns
// nil so that dispatch sends nothing more. Without the stream, or with
// direct get off, nothing answers.
func (ja *jsAccount) apiDirectGet(r *jsAPIRequest, args []string) any {
	st := ja.lookupStream(args[0])
	if st == nil || !st.cfg().AllowDirect {
		return nil
	}
	var req jsDirectGetRequest
	if len(args) > 1 {
		// The subject form: the last message on that literal subject.
		if hasJSONBody(r.msg) && json.Unmarshal(r.msg, &req) != nil {
			st.directStatus(r.reply, "408 Malformed Request")
			return nil
		}
		if req.Seq > 0 || req.LastFor != "" || req.NextFor != "" || req.StartTime != nil || req.Batch > 0 ||
			len(req.MultiLast) > 0 || req.UpToSeq > 0 || req.UpToTime != nil {
			st.directStatus(r.reply, "408 Bad Request")
			return nil
		}
		req.LastFor = strings.Join(args[1:], ".")
	} else if len(bytes.TrimSpace(r.msg)) == 0 {
		st.directStatus(r.reply, "408 Empty Request")
		return nil
	} else if json.Unmarshal(r.msg, &req) != nil {
		st.directStatus(r.reply, "408 Malformed Request")
		return nil
	}
	st.answerDirect(r.reply, &req)
	return nil
}

func (st *stream) answerDirect(reply string, req *jsDirectGetRequest) {
	switch {
	case req.Batch > 0 || len(req.MultiLast) > 0 || req.UpToSeq > 0 || req.UpToTime != nil:
		st.directStatus(reply, "501 Not Supported Yet")
		return
	case req.Seq == 0 && req.LastFor == "" && req.NextFor == "" && req.StartTime == nil:
		st.directStatus(reply, "408 Empty Request")
		return
	}
	q := req.jsMsgGetRequest
	if !q.valid() {
		st.directStatus(reply, "408 Bad Request")
		return
	}
	sm, err := st.loadForGet(&q)
	if err != nil || sm == nil {
		st.directStatus(reply, "404 Message Not Found")
		return
	}
	st.sendDirectMsg(reply, sm, req.NoHeaders)
}

// sendDirectMsg replies with the stored headers (unless noHdr), the
// stream's own headers, and the payload.
func (st *stream) sendDirectMsg(reply string, sm *StoreMsg, noHdr bool) {
	h := make([]byte, 0, 128+len(sm.Hdr))
	h = append(h, "NATS/1.0\r\n"...)
	if !noHdr && len(sm.Hdr) > 0 {
		if i := bytes.Index(sm.Hdr, []byte("\r\n")); i >= 0 {
			h = append(h, bytes.TrimSuffix(sm.Hdr[i+2:], []byte("\r\n"))...)
		}
	}
	h = appendHeader(h, hdrDirectStream, st.name)
	h = appendHeader(h, hdrDirectSubject, sm.Subject)
	h = appendHeader(h, hdrDirectSequence, strconv.FormatUint(sm.Seq, 10))
	h = appendHeader(h, hdrDirectTimeStamp, time.Unix(0, sm.TS).UTC().Format(time.RFC3339Nano))
	h = append(h, "\r\n"...)
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", h, sm.Msg)
}

func appendHeader(h []byte, k, v string) []byte {
	h = append(h, k...)
	h = append(h, ": "...)
	h = append(h, v...)
	return append(h, "\r\n"...)
}

// directStatus replies with a header-only status message.
func (st *stream) directStatus(reply, status string) {
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", []byte("NATS/1.0 "+status+"\r\n\r\n"), nil)
}
