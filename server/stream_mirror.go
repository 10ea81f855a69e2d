package server

import (
	"reflect"
)

// A mirror is a stream that copies one origin stream message for message,
// keeping its sequences and timestamps: a message the origin stores at
// sequence N is stored at N in the mirror (filtered-out or deleted origin
// messages leave gaps). It has no subjects of its own, so nothing else
// writes to it. Its copy runs as a sourceRun (stream_source_run.go) that
// stores through storeMirrored.

// checkMirrorConfig validates a mirror's config in the reference's order.
func checkMirrorConfig(c *StreamConfig) *ApiError {
	switch {
	case len(c.Subjects) > 0:
		return jsError(jsMirrorWithSubjects)
	case len(c.Sources) > 0:
		return jsError(jsMirrorWithSources)
	case c.FirstSeq > 0:
		return jsError(jsMirrorWithFirstSeq)
	case c.SubjectDeleteMarkerTTL > 0:
		return jsError(jsStreamInvalidConfig, "subject delete markers forbidden on mirrors")
	case c.AllowMsgCounter:
		return jsError(jsMirrorWithCounters)
	case c.AllowAtomic:
		return jsError(jsMirrorWithAtomic)
	case c.AllowBatched:
		return jsError(jsMirrorWithBatched)
	case c.AllowMsgSchedules:
		return jsError(jsMirrorWithSchedules)
	}
	if e := checkOneSource(c.Mirror, mirrorErrs); e != nil {
		return e
	}
	if c.Mirror.Name == c.Name && c.Mirror.External == nil {
		return jsError(jsStreamInvalidConfig, "detected cycle")
	}
	return nil
}

// checkSourcingUpdate refuses an update that adds or changes a mirror;
// removing it (promoting the mirror to a plain stream) is allowed.
func checkSourcingUpdate(old StreamConfig, c *StreamConfig) *ApiError {
	if c.Mirror == nil {
		return nil
	}
	if old.Mirror == nil || !reflect.DeepEqual(*old.Mirror, *c.Mirror) {
		return jsError(jsMirrorNotUpdatable)
	}
	return nil
}

// checkSourcingOrigins applies the checks that need the origins: a mirror
// or source must accept the origin's largest message, and no chain of
// mirrors and sources on this server may lead back to the stream. On
// create, a mirror of a stream of this server answers direct gets for its
// origin (mirror_direct) when the origin has allow_direct, as the
// reference sets it.
func (ja *jsAccount) checkSourcingOrigins(c *StreamConfig, create bool) *ApiError {
	if c.Mirror != nil {
		o := ja.originConfig(c.Mirror)
		if o != nil && !msgSizeFits(c.MaxMsgSize, o.MaxMsgSize) {
			return jsError(jsMirrorMaxMsgSize)
		}
		_, local := ja.originAccount(c.Mirror.External, c.Mirror.Name)
		if create && local {
			// An origin in another domain is not seen from here: the
			// request's mirror_direct stands, as on the reference.
			c.MirrorDirect = o != nil && o.AllowDirect
		}
	}
	for _, src := range c.Sources {
		if o := ja.originConfig(src); o != nil && !msgSizeFits(c.MaxMsgSize, o.MaxMsgSize) {
			return jsError(jsSourceMaxMsgSize)
		}
	}
	if ja.leadsBack(c) {
		return jsError(jsStreamInvalidConfig, "detected cycle")
	}
	return nil
}

// msgSizeFits: a limit of ours at or above the origin's, or none.
func msgSizeFits(ours, origin int32) bool {
	return origin <= 0 || ours <= 0 || ours >= origin
}

// originConfig is the config of src's origin when it is on this server.
func (ja *jsAccount) originConfig(src *StreamSource) *StreamConfig {
	oja, ok := ja.originAccount(src.External, src.Name)
	if !ok {
		return nil
	}
	ost := oja.lookupStream(src.Name)
	if ost == nil {
		return nil
	}
	cfg := ost.cfg()
	return &cfg
}

// leadsBack reports whether following c's origins (and theirs) on this
// server reaches the stream c itself.
func (ja *jsAccount) leadsBack(c *StreamConfig) bool {
	type node struct {
		ja   *jsAccount
		name string
	}
	self := node{ja, c.Name}
	seen := map[node]bool{}
	var visit func(from *jsAccount, cfg *StreamConfig) bool
	visit = func(from *jsAccount, cfg *StreamConfig) bool {
		for _, src := range cfg.originsOf() {
			oja, ok := from.originAccount(src.External, src.Name)
			if !ok {
				continue
			}
			n := node{oja, src.Name}
			if n == self {
				return true
			}
			if seen[n] || len(seen) > 10000 {
				continue
			}
			seen[n] = true
			if ost := oja.lookupStream(src.Name); ost != nil {
				ocfg := ost.cfg()
				if visit(oja, &ocfg) {
					return true
				}
			}
		}
		return false
	}
	return visit(ja, c)
}

// originsOf lists the mirror and the sources.
func (c *StreamConfig) originsOf() []*StreamSource {
	if c.Mirror != nil {
		return []*StreamSource{c.Mirror}
	}
	return c.Sources
}

// storeMirrored stores a mirrored message at its origin sequence and time.
// A sequence the mirror already has (a copy repeated after a restart) is
// skipped.
func (st *stream) storeMirrored(m *inMsg) error {
	sm := m.sourced
	var ss StreamState
	st.store.FastState(&ss)
	if sm.originSeq <= ss.LastSeq {
		return nil
	}
	if st.overLimit() {
		return jsError(jsInsufficientResources)
	}
	if err := st.storeCopyAt(m.subject, m.hdr, m.msg, sm.originSeq, sm.ts); err != nil {
		return err
	}
	st.noteStored(m.subject, m.hdr, m.msg)
	return nil
}

// mirrorOrigin names the stream this one mirrors, "" if none: a mirror
// with mirror_direct answers direct gets addressed to it.
func (st *stream) mirrorOrigin() string {
	if m := st.cfg().Mirror; m != nil {
		return m.Name
	}
	return ""
}
