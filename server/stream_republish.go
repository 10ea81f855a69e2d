package server

import (
	"strconv"
	"time"
)

// Republish: once a message whose stored subject matches republish.src is
// stored, it is published again on the transformed dest subject, in the
// stream's account, before the PubAck (as the reference orders them), with
// its headers plus Nats-Stream, Nats-Subject, Nats-Sequence,
// Nats-Time-Stamp and Nats-Last-Sequence (the subject's previous sequence,
// 0 if none); headers_only drops the payload and adds Nats-Msg-Size.

// RePublish is a stream's republish configuration.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

const hdrMsgSize = "Nats-Msg-Size"

func sameRePublish(a, b *RePublish) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

// setRePublishDefaults gives republish its default source, as the
// reference stores it.
func setRePublishDefaults(c *StreamConfig) {
	if c.RePublish != nil && c.RePublish.Source == "" {
		c.RePublish.Source = fwcStr
	}
}

// checkRePublish refuses an invalid transform, and a destination that
// could be stored by the stream again.
func checkRePublish(c *StreamConfig) *ApiError {
	rp := c.RePublish
	if rp == nil || rp.Destination == "" {
		return nil
	}
	invalid := func(msg string) *ApiError { return jsError(jsStreamInvalidConfig, msg) }
	if !IsValidSubject(orAny(rp.Source)) || transformDestProblem(orAny(rp.Source), rp.Destination) != "" {
		return invalid("stream configuration for republish with transform from '" + rp.Source + "' to '" +
			rp.Destination + "' not valid")
	}
	dest := republishPattern(rp.Destination)
	for _, s := range c.Subjects {
		if subjectsCollide(s, dest) {
			return invalid("stream configuration for republish destination forms a cycle")
		}
	}
	return nil
}

// republishPattern is the set of subjects a destination template can
// produce, as a subject pattern: every computed token becomes '*'.
func republishPattern(dest string) string {
	toks := splitTemplate(dest)
	for i, t := range toks {
		if t != fwcStr && (t == "" || isPositionalToken(t) || (len(t) > 1 && t[:2] == "{{")) {
			toks[i] = "*"
		}
	}
	out := toks[0]
	for _, t := range toks[1:] {
		out += "." + t
	}
	return out
}

// isPositionalToken reports a "$<n>" wildcard reference; "$KV" and other
// tokens starting with '$' are literal.
func isPositionalToken(t string) bool {
	if len(t) < 2 || t[0] != '$' {
		return false
	}
	for i := 1; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

// lastSeqBefore is the subject's last sequence before a store, needed for
// Nats-Last-Sequence; 0 unless republish applies to it.
func (st *stream) lastSeqBefore(subject string) uint64 {
	x := st.xforms()
	if x.repubX == nil || !x.repubX.matches(subject) {
		return 0
	}
	if r, ok := st.store.(storeIndexReader); ok {
		return r.SubjectLastSeq(subject)
	}
	return 0
}

// republish sends the stored message on the republish subject.
func (st *stream) republish(subject string, hdr, msg []byte, seq, last uint64, ts int64) {
	x := st.xforms()
	if x.repubX == nil || !x.repubX.matches(subject) {
		return
	}
	x.scratch = x.repubX.apply(x.scratch[:0], subject)
	dest := string(x.scratch)
	if !IsValidLiteralSubject(dest) {
		return // as the reference, an invalid subject is not republished
	}
	h := make([]byte, 0, len(hdr)+200)
	h = append(h, "NATS/1.0\r\n"...)
	h = append(h, storedHeaderLines(hdr)...)
	h = appendHeader(h, hdrDirectStream, st.name)
	h = appendHeader(h, hdrDirectSubject, subject)
	h = appendHeader(h, hdrDirectSequence, strconv.FormatUint(seq, 10))
	h = appendHeader(h, hdrDirectTimeStamp, time.Unix(0, ts).UTC().Format(time.RFC3339Nano))
	h = appendHeader(h, hdrDirectLastSeq, strconv.FormatUint(last, 10))
	body := msg
	if x.repub.HeadersOnly {
		h = appendHeader(h, hdrMsgSize, strconv.Itoa(len(msg)))
		body = nil
	}
	h = append(h, "\r\n"...)
	st.ja.js.srv.PublishInternal(st.ja.acc, dest, "", h, body)
}

// batchPrevSeqs maps each subject of an atomic batch to its last sequence
// before the batch, for the Nats-Last-Sequence of its republished messages;
// nil when the stream republishes nothing.
func (st *stream) batchPrevSeqs(msgs []storeBatchMsg) map[string]uint64 {
	if st.xforms().repubX == nil {
		return nil
	}
	prev := make(map[string]uint64, len(msgs))
	for i := range msgs {
		if _, ok := prev[msgs[i].subject]; !ok {
			prev[msgs[i].subject] = st.lastSeqBefore(msgs[i].subject)
		}
	}
	return prev
}

// republishBatch republishes a committed atomic batch stored from first on,
// as the reference does: each message's Nats-Last-Sequence counts the
// batch's earlier messages on its subject.
func (st *stream) republishBatch(msgs []storeBatchMsg, prev map[string]uint64, first uint64, ts int64) {
	if prev == nil {
		return
	}
	for i := range msgs {
		m := &msgs[i]
		seq := first + uint64(i)
		st.republish(m.subject, m.hdr, m.msg, seq, prev[m.subject], ts)
		prev[m.subject] = seq
	}
}
