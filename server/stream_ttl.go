package server

import (
	"strconv"
	"strings"
	"time"
)

// Per-message TTL and subject delete markers.
//
// A publish may carry Nats-TTL: a Go duration of at least 1s ("30s",
// "1h"), a whole number of seconds ("90"), or "never" in any case. The
// stream needs allow_msg_ttl. The store keeps each message's TTL in its
// record, so expiry survives a restart; "never" also exempts the message
// from max_age.
//
// With subject_delete_marker_ttl set, the removal by max_age or by a TTL
// of the last message of a subject leaves a marker on that subject, as the
// reference writes it: an empty message with the headers
// Nats-Marker-Reason: MaxAge, Nats-TTL: <marker ttl> and Nats-Rollup: sub,
// itself removed once the marker TTL passes. The store reports the emptied
// subjects (setExpiryHook) and the stream stores the markers through its
// ingest queue, so they are ordered with publishes like any message.

const (
	hdrTTL             = "Nats-TTL"
	hdrMarkerReason    = "Nats-Marker-Reason"
	hdrKVOperation     = "KV-Operation"
	markerReasonMaxAge = "MaxAge"

	// jsMaxMsgTTL bounds a TTL so that timestamp + TTL never overflows.
	jsMaxMsgTTL = time.Duration(1 << 62)
	jsMinMsgTTL = time.Second
)

// msgTTLNever is the TTL of a message that never expires.
const msgTTLNever = time.Duration(-1)

// parseMsgTTL reads a Nats-TTL value, as the reference accepts it.
func parseMsgTTL(v string) (time.Duration, bool) {
	if strings.EqualFold(v, "never") {
		return msgTTLNever, true
	}
	if d, err := time.ParseDuration(v); err == nil {
		return min(d, jsMaxMsgTTL), d >= jsMinMsgTTL
	}
	// Whole seconds. The reference's digit parser wraps around 64 bits and
	// refuses a negative result; "00" is accepted as no TTL (observed).
	var n uint64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(v[i]-'0')
	}
	switch secs := int64(n); {
	case secs < 0:
		return 0, false
	case secs > int64(jsMaxMsgTTL/time.Second):
		return jsMaxMsgTTL, true
	default:
		return time.Duration(secs) * time.Second, true
	}
}

// checkMarkerConfig validates subject_delete_marker_ttl.
func checkMarkerConfig(c *StreamConfig) *ApiError {
	switch {
	case c.SubjectDeleteMarkerTTL < 0:
		return jsError(jsStreamInvalidConfig, "subject delete marker TTL must not be negative")
	case c.SubjectDeleteMarkerTTL > 0 && c.SubjectDeleteMarkerTTL < time.Second:
		return jsError(jsStreamInvalidConfig, "subject delete marker TTL must be at least 1 second")
	}
	return nil
}

// applyMarkerDefaults turns on what subject delete markers need, as the
// reference does after validating the config: message TTLs and roll-ups
// (which clears deny_purge). With pedantic, each implicit change is an error.
func applyMarkerDefaults(c *StreamConfig, pedantic bool) *ApiError {
	if c.SubjectDeleteMarkerTTL <= 0 {
		return nil
	}
	if pedantic && !c.AllowMsgTTL {
		return jsError(jsStreamInvalidConfig, "subject delete marker cannot be set if message TTLs are disabled")
	}
	if pedantic && !c.AllowRollup {
		return jsError(jsStreamInvalidConfig, "subject delete marker cannot be set if roll-ups are disabled")
	}
	c.AllowMsgTTL, c.AllowRollup, c.DenyPurge = true, true, false
	return nil
}

// checkTTLUpdate: allow_msg_ttl may be turned on, never off.
func checkTTLUpdate(old, c *StreamConfig) *ApiError {
	if old.AllowMsgTTL && !c.AllowMsgTTL {
		return jsError(jsStreamInvalidConfig, "message TTL status can not be disabled")
	}
	return nil
}

// msgTTLHeader is what a publish's Nats-TTL says; set is false when the
// header is absent or empty. A valid TTL of 0 ("00") means none.
type msgTTLHeader struct {
	set   bool
	valid bool
	ttl   time.Duration
}

func readMsgTTL(hdr []byte) msgTTLHeader {
	v, ok := headerValue(hdr, hdrTTL)
	if !ok || v == "" {
		return msgTTLHeader{}
	}
	ttl, valid := parseMsgTTL(v)
	return msgTTLHeader{set: true, valid: valid, ttl: ttl}
}

// raiseTTLToMarker lifts a TTL below the marker TTL up to it, rewriting
// the header in whole seconds as the reference does, so that a subject's
// marker never outlives the message it stands for. Not with one message
// per subject, where the next message replaces the last anyway.
func (st *stream) raiseTTLToMarker(cfg *StreamConfig, m *inMsg, t *msgTTLHeader) {
	sdm := cfg.SubjectDeleteMarkerTTL
	if !t.set || t.ttl <= 0 || sdm <= t.ttl || cfg.MaxMsgsPer == 1 {
		return
	}
	t.ttl = sdm
	m.hdr = setHeader(m.hdr, hdrTTL, strconv.FormatInt(int64(sdm/time.Second), 10))
}

// isDeleteMarker reports a marker message: one of ours, or a KV purge.
func isDeleteMarker(hdr []byte) bool {
	if len(hdr) == 0 {
		return false
	}
	if _, ok := headerValue(hdr, hdrMarkerReason); ok {
		return true
	}
	op, _ := headerValue(hdr, hdrKVOperation)
	return op == "PURGE"
}

// storeExpiryHook collects, under the store's lock, the subjects whose last
// message max_age or a TTL removed (when the stream writes markers); they
// are handed to fn after the lock. Subjects emptied before fn is set (at
// recovery, for messages that expired while the server was down) wait for
// it.
type storeExpiryHook struct {
	fn      func(subjects []string)
	pending []string
}

// setExpiryHook asks the store to report subjects emptied by expiry.
func (c *storeCore) setExpiryHook(fn func(subjects []string)) {
	c.mu.Lock()
	c.expiry.fn = fn
	c.mu.Unlock()
	c.flushExpiry()
}

// noteExpiringLocked records seq's subject if seq is its last message and
// not itself a marker (a marker's expiry leaves nothing behind).
// Lock held.
func (c *storeCore) noteExpiringLocked(seq uint64) {
	if c.cfg.SubjectDeleteMarkerTTL <= 0 {
		return
	}
	sl := c.idx.slot(seq)
	if sl == nil || c.idx.subjs[sl.subj].msgs != 1 {
		return
	}
	subj := c.idx.subjs[sl.subj].name
	var sm StoreMsg
	if m, err := c.loadLocked(seq, &sm); err != nil || isDeleteMarker(m.Hdr) {
		return
	}
	c.expiry.pending = append(c.expiry.pending, subj)
}

// flushExpiry hands the emptied subjects to the hook; no lock held.
func (c *storeCore) flushExpiry() {
	c.mu.Lock()
	subjects, fn := c.expiry.pending, c.expiry.fn
	c.expiry.pending = nil
	c.mu.Unlock()
	if fn != nil && len(subjects) > 0 {
		fn(subjects)
	}
}

// watchExpiry connects the store's expiry to the stream's markers.
func (st *stream) watchExpiry() {
	if s, ok := st.store.(interface{ setExpiryHook(func([]string)) }); ok {
		s.setExpiryHook(st.queueMarkers)
	}
}

// queueMarkers queues a delete marker for each subject, if the stream
// writes them. It runs on the store's expiry goroutine.
func (st *stream) queueMarkers(subjects []string) {
	sdm := st.cfg().SubjectDeleteMarkerTTL
	if sdm <= 0 {
		return
	}
	hdr := []byte("NATS/1.0\r\n")
	hdr = appendHeader(hdr, hdrMarkerReason, markerReasonMaxAge)
	hdr = appendHeader(hdr, hdrTTL, sdm.String())
	hdr = appendHeader(hdr, hdrRollup, rollupSubject)
	hdr = append(hdr, "\r\n"...)
	q := st.in
	q.mu.Lock()
	for _, subj := range subjects {
		q.msgs = append(q.msgs, &inMsg{subject: subj, hdr: hdr, marker: true})
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// storeMarker stores a queued marker unless its subject got a message in
// the meantime or markers were turned off.
func (st *stream) storeMarker(m *inMsg) {
	sdm := st.cfg().SubjectDeleteMarkerTTL
	if sdm <= 0 {
		return
	}
	if _, err := st.store.LoadLastMsg(m.subject, nil); err == nil {
		return
	}
	// Through the round like a publish: a replicated stream's leader
	// records it for its followers (stream_replicate_features.go).
	if _, _, err := st.appendMsg(m.subject, m.hdr, nil, int64(sdm)); err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': storing a delete marker on %q: %v",
			st.ja.acc.Name, st.name, m.subject, err)
		return
	}
	st.notifyAppend()
}

// batchMsgTTL is the store TTL (nanoseconds, -1 for never) of a message of
// an atomic batch, checked at commit as a single publish's Nats-TTL is.
func (st *stream) batchMsgTTL(cfg *StreamConfig, m *inMsg) (int64, *ApiError) {
	t := readMsgTTL(m.hdr)
	switch {
	case !t.set:
		return 0, nil
	case t.valid && t.ttl != 0 && !cfg.AllowMsgTTL:
		return 0, jsError(jsMessageTTLDisabled)
	case !t.valid:
		return 0, jsError(jsMessageTTLInvalid)
	}
	st.raiseTTLToMarker(cfg, m, &t)
	return int64(t.ttl), nil
}
