package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Direct get ($JS.API.DIRECT.GET.<stream>[.<subject>]) answers with the
// stored messages themselves, not JSON, for streams with allow_direct (or
// for a mirror with mirror_direct, in the origin's name). It arrives through
// the account's $JS.API.> subscription and runs on an API worker like every
// request. Every answer below, status lines and headers included, is what
// the reference v2.15.2 sends (observed byte for byte).
//
// Three modes: one message (seq, last_by_subj, next_by_subj, start_time);
// a batch (batch > 0: from a start sequence, optionally filtered by
// next_by_subj, bounded by max_bytes); and multi_last (the last message of
// every subject matching the filters, at or below up_to_seq/up_to_time).
// Batches and multi_last end with a "204 EOB" status.

const (
	hdrDirectStream     = "Nats-Stream"
	hdrDirectSubject    = "Nats-Subject"
	hdrDirectSequence   = "Nats-Sequence"
	hdrDirectTimeStamp  = "Nats-Time-Stamp"
	hdrDirectNumPending = "Nats-Num-Pending"
	hdrDirectLastSeq    = "Nats-Last-Sequence"
	hdrDirectUpToSeq    = "Nats-UpTo-Sequence"

	directEmpty       = "408 Empty Request"
	directMalformed   = "408 Malformed Request"
	directBad         = "408 Bad Request"
	directNotFound    = "404 Message Not Found"
	directNoResults   = "404 No Results"
	directTooMany     = "413 Too Many Results"
	directAPILevel    = "412 Required Api Level"
	directEOB         = "204 EOB"
	directMaxMultiRes = 1024
)

// jsDirectGetRequest is the body of a direct get, decoded leniently as the
// reference does.
type jsDirectGetRequest struct {
	jsMsgGetRequest
	MultiLast []string   `json:"multi_last,omitempty"`
	UpToSeq   uint64     `json:"up_to_seq,omitempty"`
	UpToTime  *time.Time `json:"up_to_time,omitempty"`
}

// apiDirectGet answers itself (status lines or messages) and returns nil
// so that dispatch sends nothing more. Without the stream, or with direct
// get off, nothing answers.
func (ja *jsAccount) apiDirectGet(r *jsAPIRequest, args []string) any {
	st := ja.directStream(args[0])
	if st == nil {
		ja.directNoResponders(r)
		return nil
	}
	if apiLevelTooHigh(r.hdr) {
		st.directStatus(r.reply, directAPILevel)
		return nil
	}
	req, status := decodeDirectGet(r.msg, args[1:])
	if status != "" {
		st.directStatus(r.reply, status)
		return nil
	}
	st.answerDirect(r.reply, req)
	return nil
}

// directStream is the stream answering direct gets addressed to name: the
// stream itself with allow_direct, else a mirror of it with mirror_direct.
func (ja *jsAccount) directStream(name string) *stream {
	if st := ja.lookupStream(name); st != nil && st.cfg().AllowDirect {
		return st
	}
	for _, st := range ja.streamList() {
		if cfg := st.cfg(); cfg.MirrorDirect && st.mirrorOrigin() == name {
			return st
		}
	}
	return nil
}

// directNoResponders answers a direct get nobody serves as the reference's
// server does, where only streams subscribe these subjects: with a "503"
// no-responders status, to requesters that asked for them. The requester's
// noResponders was set by its CONNECT, before this request was queued.
func (ja *jsAccount) directNoResponders(r *jsAPIRequest) {
	if r.client == nil || !r.client.noResponders {
		return
	}
	hdr := "NATS/1.0 503\r\nNats-Subject: " + r.subject + "\r\n\r\n"
	ja.js.srv.PublishInternal(ja.acc, r.reply, "", []byte(hdr), nil)
}

// decodeDirectGet parses and checks a request; subjTokens is the subject
// form's tail (the last message on that subject). A non-empty status is
// the answer instead.
func decodeDirectGet(body []byte, subjTokens []string) (*jsDirectGetRequest, string) {
	var req jsDirectGetRequest
	empty := len(bytes.TrimSpace(body)) == 0
	if len(subjTokens) > 0 {
		if !empty && json.Unmarshal(body, &req) != nil {
			return nil, directMalformed
		}
		if req.Seq > 0 || req.LastFor != "" || req.NextFor != "" || req.StartTime != nil || req.Batch != 0 ||
			len(req.MultiLast) > 0 || req.UpToSeq > 0 || req.UpToTime != nil {
			return nil, directBad
		}
		req.LastFor = strings.Join(subjTokens, ".")
		if req.LastFor == "" {
			return nil, directBad
		}
		return &req, ""
	}
	if empty {
		return nil, directEmpty
	}
	if json.Unmarshal(body, &req) != nil {
		return nil, directMalformed
	}
	if status := req.check(); status != "" {
		return nil, status
	}
	return &req, ""
}

// check applies the reference's rules: something to get, and no two ways
// of choosing it that contradict each other.
func (q *jsDirectGetRequest) check() string {
	multi := len(q.MultiLast) > 0
	last := q.LastFor != ""
	switch {
	case q.Seq == 0 && !last && q.NextFor == "" && q.StartTime == nil && !multi:
		return directEmpty
	case q.Seq > 0 && (last || q.StartTime != nil),
		q.StartTime != nil && last,
		last && (q.NextFor != "" || q.Batch != 0 || multi),
		q.NextFor != "" && multi,
		q.UpToSeq > 0 && q.UpToTime != nil:
		return directBad
	}
	return ""
}

func (st *stream) answerDirect(reply string, req *jsDirectGetRequest) {
	switch {
	case len(req.MultiLast) > 0:
		st.directMultiLast(reply, req)
	case req.Batch != 0:
		st.directBatch(reply, req)
	default:
		q := req.jsMsgGetRequest
		sm, err := st.loadForGet(&q)
		if err != nil || sm == nil {
			st.directStatus(reply, directNotFound)
			return
		}
		st.sendDirectMsg(reply, sm, req.NoHeaders, nil)
	}
}

// directBatch sends up to batch messages from the start sequence (or
// start_time), matching next_by_subj if set, stopping once max_bytes
// (subject, headers and payload) is reached, then the EOB.
func (st *stream) directBatch(reply string, req *jsDirectGetRequest) {
	filter := req.NextFor
	if filter == "" {
		filter = ">"
	}
	start := req.Seq
	if req.StartTime != nil {
		if start = st.seqAtTime(*req.StartTime); start == 0 {
			st.directStatus(reply, directNotFound)
			return
		}
	}
	var sm StoreMsg
	m, _, err := st.store.LoadNextMsg(filter, max(start, 1), &sm)
	if err != nil {
		st.directStatus(reply, directNotFound)
		return
	}
	pending := st.numPending(filter, m.Seq)
	maxBytes := st.directMaxBytes(req.MaxBytes)
	var sent, lastSent uint64
	size := 0
	for int(sent) < req.Batch && err == nil {
		sent++
		st.sendDirectMsg(reply, m, req.NoHeaders, &directPos{pending: pending - min(sent, pending), last: lastSent})
		lastSent = m.Seq
		if size += len(m.Subject) + len(m.Hdr) + len(m.Msg); size >= maxBytes {
			break
		}
		m, _, err = st.store.LoadNextMsg(filter, m.Seq+1, &sm)
	}
	if req.NoHeaders {
		sent = 0 // the reference counts down only in the headers it writes
	}
	st.directEOB(reply, pending-min(sent, pending), lastSent, 0)
}

// directMultiLast sends the last message of every subject matching the
// filters, in sequence order, as of up_to_seq (or up_to_time), skipping
// those below seq, then the EOB.
func (st *stream) directMultiLast(reply string, req *jsDirectGetRequest) {
	var ss StreamState
	st.store.FastState(&ss)
	upTo, ok := st.multiUpTo(req, &ss)
	if !ok {
		st.directStatus(reply, directNoResults)
		return
	}
	seqs := st.lastSeqs(req.MultiLast, upTo)
	switch {
	case len(seqs) == 0:
		st.directStatus(reply, directNoResults)
		return
	case len(seqs) > directMaxMultiRes:
		st.directStatus(reply, directTooMany)
		return
	}
	maxBytes := st.directMaxBytes(req.MaxBytes)
	var sm StoreMsg
	var lastSent uint64
	sent, size, next := 0, 0, 0
	for ; next < len(seqs); next++ {
		if req.Batch > 0 && sent >= req.Batch || size >= maxBytes {
			break
		}
		if seqs[next] < req.Seq {
			continue
		}
		m, err := st.store.LoadMsg(seqs[next], &sm)
		if err != nil {
			continue // removed since the index was read
		}
		// The reference ignores no_hdr in this mode.
		st.sendDirectMsg(reply, m, false, &directPos{pending: uint64(len(seqs) - next - 1), last: lastSent})
		lastSent = m.Seq
		sent++
		size += len(m.Subject) + len(m.Hdr) + len(m.Msg)
	}
	st.directEOB(reply, uint64(len(seqs)-next), lastSent, upTo)
}

// multiUpTo is the sequence multi_last reads as of: up_to_seq, the last
// message at or before up_to_time, or the stream's last sequence. An
// up_to_seq past the end, or a time before the first message, has none.
func (st *stream) multiUpTo(req *jsDirectGetRequest, ss *StreamState) (uint64, bool) {
	switch {
	case req.UpToSeq > 0:
		return req.UpToSeq, req.UpToSeq <= ss.LastSeq
	case req.UpToTime != nil:
		after := st.seqAtTime(req.UpToTime.Add(time.Nanosecond))
		if after == 0 {
			return ss.LastSeq, true
		}
		return after - 1, after > ss.FirstSeq
	}
	return ss.LastSeq, true
}

func (st *stream) numPending(filter string, start uint64) uint64 {
	if r, ok := st.store.(storeIndexReader); ok {
		return r.NumPending(filter, start)
	}
	return 0
}

func (st *stream) lastSeqs(filters []string, upTo uint64) []uint64 {
	if r, ok := st.store.(storeIndexReader); ok {
		return r.LastSeqsUpTo(filters, upTo, directMaxMultiRes)
	}
	return nil
}

// directMaxBytes is the byte budget of a batch: the request's, or the
// server's max_pending as in the reference.
func (st *stream) directMaxBytes(n int) int {
	if n > 0 {
		return n
	}
	return int(min(st.ja.js.srv.getOpts().MaxPending, 1<<40))
}

// directPos is a batched message's place: messages left after it and the
// sequence sent before it.
type directPos struct {
	pending uint64
	last    uint64
}

// sendDirectMsg replies with the stored headers and the stream's own, or
// with the payload alone when noHdr (no header block at all).
func (st *stream) sendDirectMsg(reply string, sm *StoreMsg, noHdr bool, pos *directPos) {
	if noHdr {
		st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", nil, sm.Msg)
		return
	}
	h := make([]byte, 0, 160+len(sm.Hdr))
	h = append(h, "NATS/1.0\r\n"...)
	h = append(h, storedHeaderLines(sm.Hdr)...)
	h = appendHeader(h, hdrDirectStream, st.name)
	h = appendHeader(h, hdrDirectSubject, sm.Subject)
	h = appendHeader(h, hdrDirectSequence, strconv.FormatUint(sm.Seq, 10))
	h = appendHeader(h, hdrDirectTimeStamp, time.Unix(0, sm.TS).UTC().Format(time.RFC3339Nano))
	if pos != nil {
		h = appendHeader(h, hdrDirectNumPending, strconv.FormatUint(pos.pending, 10))
		h = appendHeader(h, hdrDirectLastSeq, strconv.FormatUint(pos.last, 10))
	}
	h = append(h, "\r\n"...)
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", h, sm.Msg)
}

// directEOB ends a batch; upTo (multi_last only) adds Nats-UpTo-Sequence.
func (st *stream) directEOB(reply string, pending, last, upTo uint64) {
	h := make([]byte, 0, 128)
	h = append(h, "NATS/1.0 "+directEOB+"\r\n"...)
	h = appendHeader(h, hdrDirectNumPending, strconv.FormatUint(pending, 10))
	h = appendHeader(h, hdrDirectLastSeq, strconv.FormatUint(last, 10))
	if upTo > 0 {
		h = appendHeader(h, hdrDirectUpToSeq, strconv.FormatUint(upTo, 10))
	}
	h = append(h, "\r\n"...)
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", h, nil)
}

// storedHeaderLines is a stored header block without its status line and
// final blank line: the "Key: value\r\n" lines to copy into a new block.
func storedHeaderLines(hdr []byte) []byte {
	return bytes.TrimSuffix(headerLines(hdr), []byte("\r\n"))
}

// appendHeaderTo is the header block hdr (none: a fresh one) with the
// line "k: v" added at its end, built in dst.
func appendHeaderTo(dst, hdr []byte, k, v string) []byte {
	if len(hdr) < len("NATS/1.0\r\n\r\n") {
		dst = append(dst, "NATS/1.0\r\n"...)
	} else {
		dst = append(dst, hdr[:len(hdr)-2]...)
	}
	dst = appendHeader(dst, k, v)
	return append(dst, "\r\n"...)
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
