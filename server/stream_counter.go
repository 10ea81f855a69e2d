package server

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
)

// Counters: on a stream with allow_msg_counter every publish carries
// Nats-Incr, a signed decimal integer of any size, and an empty body. The
// stream stores {"val":"<total>"}, the subject's previous total plus the
// increment, and the PubAck carries "val". Sources feeding counters
// (Nats-Counter-Sources) belong to the mirror/source code.

const hdrIncr = "Nats-Incr"

// checkCounterConfig applies the reference's limits on counter streams.
func checkCounterConfig(c *StreamConfig) *ApiError {
	if !c.AllowMsgCounter {
		return nil
	}
	switch {
	case c.Discard == DiscardNew:
		return jsError(jsStreamInvalidConfig, "counter stream cannot use discard new")
	case c.AllowMsgTTL:
		return jsError(jsStreamInvalidConfig, "counter stream cannot use message TTLs")
	case c.AllowMsgSchedules:
		return jsError(jsStreamInvalidConfig, "counter stream cannot use message schedules")
	case c.Retention != LimitsPolicy:
		return jsError(jsStreamInvalidConfig, "counter stream can only use limits retention")
	}
	return nil
}

// checkCounterUpdate: allow_msg_counter never changes.
func checkCounterUpdate(old, c *StreamConfig) *ApiError {
	if old.AllowMsgCounter != c.AllowMsgCounter {
		return jsError(jsStreamInvalidConfig, "stream configuration update can not change message counter setting")
	}
	return nil
}

// readIncr checks a Nats-Incr header, in the reference's order: the value,
// the stream's permission, the empty body, then headers it cannot go with.
func readIncr(cfg *StreamConfig, m *inMsg) (*big.Int, *ApiError) {
	v, ok := headerValue(m.hdr, hdrIncr)
	if !ok || v == "" {
		return nil, nil
	}
	delta, ok := new(big.Int).SetString(v, 10)
	switch {
	case !ok:
		return nil, jsError(jsMessageIncrInvalid)
	case !cfg.AllowMsgCounter:
		return nil, jsError(jsMessageIncrDisabled)
	case len(m.msg) > 0:
		return nil, jsError(jsMessageIncrPayload)
	case hasRollupOrExpected(m.hdr):
		return nil, jsError(jsMessageIncrInvalid)
	}
	return delta, nil
}

// hasRollupOrExpected reports a Nats-Rollup or any Nats-Expected-* header.
func hasRollupOrExpected(hdr []byte) bool {
	rest := headerLines(hdr)
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			return false
		}
		key := bytesToString(k)
		if len(v) > 0 && (key == hdrRollup || strings.HasPrefix(key, "Nats-Expected-")) {
			return true
		}
		rest = next
	}
}

// counterValue is the stored body of a counter message.
type counterValue struct {
	Val string `json:"val"`
}

// addToCounter computes the subject's new total and makes it the body.
func (st *stream) addToCounter(m *inMsg, delta *big.Int) (string, *ApiError) {
	total, e := st.counterTotal(m.subject)
	if e != nil {
		return "", e
	}
	return setCounterBody(m, total.Add(total, delta)), nil
}

// counterTotal is the stored total of subject's counter (0 when none).
func (st *stream) counterTotal(subject string) (*big.Int, *ApiError) {
	total := new(big.Int)
	if last, err := st.store.LoadLastMsg(subject, nil); err == nil {
		var cv counterValue
		if json.Unmarshal(last.Msg, &cv) != nil {
			return nil, jsError(jsMessageCounterBroken)
		}
		if _, ok := total.SetString(cv.Val, 10); !ok {
			return nil, jsError(jsMessageCounterBroken)
		}
	}
	return total, nil
}

// setCounterBody replaces m's body with the counter's new total,
// {"val":"T"}, and returns T.
func setCounterBody(m *inMsg, total *big.Int) string {
	val := total.String()
	m.msg = append(append([]byte(`{"val":"`), val...), `"}`...)
	return val
}

// addToBatchCounter is addToCounter for a message of an atomic batch:
// totals carries the batch's running totals, so that each message stores
// the total up to itself (observed on the reference).
func (st *stream) addToBatchCounter(cfg *StreamConfig, m *inMsg, totals map[string]*big.Int) *ApiError {
	delta, e := readIncr(cfg, m)
	if e != nil || !cfg.AllowMsgCounter {
		return e
	}
	if delta == nil {
		return jsError(jsMessageIncrMissing)
	}
	total, ok := totals[m.subject]
	if !ok {
		if total, e = st.counterTotal(m.subject); e != nil {
			return e
		}
		totals[m.subject] = total
	}
	setCounterBody(m, total.Add(total, delta))
	return nil
}

// appendPubAckVal appends a counter publish's PubAck:
// {"stream":..,"seq":N,"val":"T"} (sent by the ingest round, queueFeatureAck).
func (st *stream) appendPubAckVal(b []byte, seq uint64, val string) []byte {
	b = append(b, st.ackPrefix...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"val":"`...)
	b = append(b, val...)
	return append(b, `"}`...)
}

// streamRequiredLevel is the API level a stream's config needs (stored as
// _nats.req.level): 1 for message TTLs and delete markers, 2 for counters;
// batches and schedules have theirs (batchScheduleReqLevel).
func streamRequiredLevel(c *StreamConfig) int {
	switch {
	case c.AllowMsgCounter:
		return 2
	case c.AllowMsgTTL || c.SubjectDeleteMarkerTTL > 0:
		return 1
	}
	return 0
}
