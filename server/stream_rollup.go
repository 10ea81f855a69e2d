package server

import (
	"strconv"
	"strings"
)

// Roll-ups: a publish with Nats-Rollup: sub replaces every earlier message
// on its subject, with Nats-Rollup: all every earlier message of the
// stream. The stream needs allow_rollup_hdrs and must not deny purges; the
// value is matched in any case, and an empty header is no roll-up. The
// purge happens once the message is stored, so a roll-up refused by a
// limit (discard new) removes nothing.

const (
	hdrRollup     = "Nats-Rollup"
	rollupSubject = "sub"
	rollupAll     = "all"
)

type rollupKind uint8

const (
	rollupNone rollupKind = iota
	rollupSub
	rollupStream
)

// checkRollup reads Nats-Rollup. Not permitted comes before a bad value,
// as with the reference.
func checkRollup(cfg *StreamConfig, hdr []byte) (rollupKind, *ApiError) {
	v, ok := headerValue(hdr, hdrRollup)
	if !ok || v == "" {
		return rollupNone, nil
	}
	if !cfg.AllowRollup || cfg.DenyPurge {
		return rollupNone, jsError(jsStreamRollupFailed, "rollup not permitted")
	}
	switch {
	case strings.EqualFold(v, rollupSubject):
		return rollupSub, nil
	case strings.EqualFold(v, rollupAll):
		return rollupStream, nil
	}
	return rollupNone, jsError(jsStreamRollupFailed, "rollup value invalid: "+strconv.Quote(v))
}

// applyRollup removes what the roll-up stored at seq replaces.
func (st *stream) applyRollup(kind rollupKind, subject string, seq uint64) {
	var err error
	switch kind {
	case rollupSub:
		_, err = st.store.PurgeEx(subject, seq, 0)
	case rollupStream:
		_, err = st.store.PurgeEx("", seq, 0)
	}
	if err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': roll-up at sequence %d: %v",
			st.ja.acc.Name, st.name, seq, err)
	}
}
