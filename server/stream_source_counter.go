package server

import (
	"encoding/json"
	"math/big"
)

// A counter stream (allow_msg_counter) that sources other counter streams
// adds up their totals: each copied message carries its origin's running
// total for its subject, so the increment stored here is that total less
// the one last seen from the same origin and subject. The header
// Nats-Counter-Sources keeps, per subject of this stream, the last total
// seen from every origin subject feeding it, and Nats-Incr is rewritten to
// the increment, as the reference writes them.

const hdrCounterSources = "Nats-Counter-Sources"

// countSourced rewrites a copied counter message m (from origin's subject
// originSubject) into this stream's counter message.
func (st *stream) countSourced(m *inMsg, origin, originSubject string) error {
	var cv counterValue
	total := new(big.Int)
	if json.Unmarshal(m.msg, &cv) != nil {
		return jsError(jsMessageCounterBroken)
	}
	if _, ok := total.SetString(cv.Val, 10); !ok {
		return jsError(jsMessageCounterBroken)
	}
	seen := map[string]map[string]string{}
	if last, err := st.store.LoadLastMsg(m.subject, nil); err == nil {
		if v, ok := headerValue(last.Hdr, hdrCounterSources); ok {
			_ = json.Unmarshal([]byte(v), &seen) // a damaged record counts from zero
		}
	}
	delta := new(big.Int).Set(total)
	if prev, ok := new(big.Int).SetString(seen[origin][originSubject], 10); ok {
		delta.Sub(total, prev)
	}
	if seen[origin] == nil {
		seen[origin] = map[string]string{}
	}
	seen[origin][originSubject] = cv.Val
	sources, _ := json.Marshal(seen)
	m.hdr = counterSourcedHeader(m.hdr, delta.String(), string(sources))
	if _, e := st.addToCounter(m, delta); e != nil {
		return e
	}
	return nil
}

// counterSourcedHeader sets Nats-Incr to the increment (where it stands)
// and adds Nats-Counter-Sources last.
func counterSourcedHeader(hdr []byte, incr, sources string) []byte {
	out := make([]byte, 0, len(hdr)+len(sources)+32)
	out = append(out, hdr[:len(hdr)-len(headerLines(hdr))]...)
	rest := headerLines(hdr)
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			break
		}
		rest = next
		key := bytesToString(k)
		switch key {
		case hdrIncr:
			out = appendHeader(out, key, incr)
		case hdrCounterSources:
		default:
			out = appendHeader(out, key, bytesToString(v))
		}
	}
	out = appendHeader(out, hdrCounterSources, sources)
	return append(out, "\r\n"...)
}
