package server

import "math/big"

// The per-message features of the publish path (TTL, roll-ups, counters,
// retention) and the order in which the reference checks their headers,
// observed on v2.15.2:
//
//  1. Nats-Incr: invalid value, counters disabled, a body, then with
//     Nats-Rollup or Nats-Expected-* (checkFeaturesEarly);
//  2. a valid Nats-TTL on a stream without TTLs;
//  3. Nats-Expected-* and the duplicate window (stream_ingest.go);
//  4. Nats-Rollup, a counter publish without Nats-Incr, an invalid
//     Nats-TTL; then the counter's new total (checkFeatures);
//  5. store (storeInbound), then the roll-up's purge (afterStore).

// msgFeatures is what the feature headers of one publish asked for.
type msgFeatures struct {
	ttl    msgTTLHeader
	incr   *big.Int
	val    string // the counter's new total
	rollup rollupKind
}

// checkFeaturesEarly runs the checks the reference makes before the
// Nats-Expected-* headers and the duplicate window.
func (st *stream) checkFeaturesEarly(cfg *StreamConfig, m *inMsg, f *msgFeatures) *ApiError {
	if len(m.hdr) == 0 {
		return nil
	}
	incr, e := readIncr(cfg, m)
	if e != nil {
		return e
	}
	f.incr = incr
	f.ttl = readMsgTTL(m.hdr)
	if f.ttl.set && f.ttl.valid && f.ttl.ttl != 0 && !cfg.AllowMsgTTL {
		return jsError(jsMessageTTLDisabled)
	}
	return nil
}

// checkFeatures runs the checks that follow the duplicate window, then
// prepares the message: its TTL raised to the marker TTL, a counter's
// body replaced by the new total.
func (st *stream) checkFeatures(cfg *StreamConfig, m *inMsg, f *msgFeatures) *ApiError {
	if len(m.hdr) > 0 {
		kind, e := checkRollup(cfg, m.hdr)
		if e != nil {
			return e
		}
		f.rollup = kind
	}
	if cfg.AllowMsgCounter && f.incr == nil {
		return jsError(jsMessageIncrMissing)
	}
	if f.ttl.set && !f.ttl.valid {
		return jsError(jsMessageTTLInvalid)
	}
	st.raiseTTLToMarker(cfg, m, &f.ttl)
	if f.incr != nil {
		val, e := st.addToCounter(m, f.incr)
		if e != nil {
			return e
		}
		f.val = val
	}
	return nil
}

// configUpdated runs after an update reached the store: markers for what
// a shorter max_age removed, and the retention change.
func (st *stream) configUpdated(old, cfg *StreamConfig) {
	if s, ok := st.store.(interface{ flushExpiry() }); ok {
		s.flushExpiry()
	}
	st.retentionUpdated(old, cfg)
}

// afterStore applies what follows a stored message: the roll-up's purge.
func (st *stream) afterStore(m *inMsg, f *msgFeatures, seq uint64) {
	if f.rollup != rollupNone {
		st.applyRollup(f.rollup, m.subject, seq)
	}
}

// Catalogue identifiers of the errors these features raise
// (jsMessageTTLDisabled is shared with schedules, stream_schedule.go).
const (
	jsStreamRollupFailed   = "JSStreamRollupFailedF"
	jsMessageTTLInvalid    = "JSMessageTTLInvalidErr"
	jsMessageIncrDisabled  = "JSMessageIncrDisabledErr"
	jsMessageIncrMissing   = "JSMessageIncrMissingErr"
	jsMessageIncrPayload   = "JSMessageIncrPayloadErr"
	jsMessageIncrInvalid   = "JSMessageIncrInvalidErr"
	jsMessageCounterBroken = "JSMessageCounterBrokenErr"

	jsExpectedLastSubjSeqMissing = "JSStreamExpectedLastSeqPerSubjectInvalid"
	jsSourceHeaderNotAllowed     = "JSMessageSourceHdrNotAllowedErr"
)

var msgFeatureErrorIDs = []string{jsStreamRollupFailed, jsMessageTTLInvalid, jsMessageTTLDisabled,
	jsMessageIncrDisabled, jsMessageIncrMissing, jsMessageIncrPayload, jsMessageIncrInvalid,
	jsMessageCounterBroken, jsExpectedLastSubjSeqMissing, jsSourceHeaderNotAllowed}

// hdrStreamSource is set by the server on sourced messages (API level 5
// refuses it from clients).
const hdrStreamSource = "Nats-Stream-Source"

// checkSourceHeader refuses a client's Nats-Stream-Source (err 10227),
// after the Nats-Expected-* headers and before the duplicate window.
// Sources storing their own messages must not come through here.
func checkSourceHeader(hdr []byte) *ApiError {
	if v, ok := headerValue(hdr, hdrStreamSource); ok && v != "" {
		return jsError(jsSourceHeaderNotAllowed)
	}
	return nil
}

// checkMsgFeatureConfig validates delete markers and counters, where the
// reference does: after roll-ups, before discard-new-per-subject.
func checkMsgFeatureConfig(c *StreamConfig) *ApiError {
	if e := checkMarkerConfig(c); e != nil {
		return e
	}
	return checkCounterConfig(c)
}

// checkMsgFeatureUpdate applies the update rules of these features.
func checkMsgFeatureUpdate(old, c *StreamConfig) *ApiError {
	if e := checkTTLUpdate(old, c); e != nil {
		return e
	}
	return checkCounterUpdate(old, c)
}
