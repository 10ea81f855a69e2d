package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Catch-up: a replica that receives a snapshot of its stream's group (it
// was away while the log was compacted) has fewer messages than the
// snapshot says were applied. It asks its peers for the missing ones.
//
// Wire format: a request published in the system account on
//
//	$JSC.CU.<group>
//
// with the JSON body {"from":F,"to":T} asks for the stored messages of
// sequences F..T; every replica that has messages past F answers on the
// reply subject with one messages entry (the log's format, kind 1, run 0,
// at most replCatchupMax bytes of records and half the server's
// max_payload, which routes enforce), or an empty body if it has
// none and its log passed T (one behind too stays silent, as does a
// replica being repaired or catching up itself). The asker
// stores what it lacks and asks again from the next sequence until it
// reaches T.
const (
	replCatchupPrefix  = "$JSC.CU."
	replCatchupMax     = 4 << 20
	replCatchupTimeout = 5 * time.Second
)

type replCatchupReq struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// serveCatchup subscribes the replica to its group's catch-up requests.
func (r *streamRepl) serveCatchup() (func(), error) {
	c := r.c
	return c.s.SubscribeInternal(c.tr.sys, replCatchupPrefix+r.group, "", func(_, reply string, _, msg []byte) {
		var req replCatchupReq
		if reply == "" || json.Unmarshal(msg, &req) != nil || req.From == 0 || req.To < req.From {
			return
		}
		reply = string([]byte(reply))
		go func() {
			if r.repairing() {
				// Its store has a gap (being refilled; applied may be
				// past what it holds): any answer could make the asker
				// skip messages as deleted.
				return
			}
			b := r.catchupBatch(req)
			if b == nil && r.applied.Load() < req.To {
				// Behind as well (a member just added): only a replica
				// whose log passed To may say the messages are gone.
				return
			}
			c.s.PublishInternal(c.tr.sys, reply, "", nil, b)
		}()
	})
}

// catchupBatch encodes the stored messages from req.From on, up to req.To
// and the answer's size limit.
func (r *streamRepl) catchupBatch(req replCatchupReq) []byte {
	b := append([]byte{replEntryMsgs}, make([]byte, 12)...)
	var n uint32
	var sm StoreMsg
	limit := replCatchupMax
	if mp := int(r.c.s.getOpts().MaxPayload) / 2; mp > 0 && mp < limit {
		// A larger answer would close the route it crosses
		// (Maximum Payload Violation).
		limit = mp
	}
	for seq := req.From; seq <= req.To && len(b) < limit; {
		m, next, err := r.st.store.LoadNextMsg(">", seq, &sm)
		if err != nil || m.Seq > req.To {
			break
		}
		b = binary.LittleEndian.AppendUint64(b, m.Seq)
		b = binary.LittleEndian.AppendUint64(b, uint64(m.TS))
		b = binary.LittleEndian.AppendUint64(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Subject)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Hdr)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Msg)))
		b = append(append(append(b, m.Subject...), m.Hdr...), m.Msg...)
		n++
		seq = max(next, m.Seq+1)
	}
	if n == 0 {
		return nil
	}
	binary.LittleEndian.PutUint32(b[9:], n)
	return b
}

// catchUp fetches the messages up to sequence to that the store lacks.
func (r *streamRepl) catchUp(to uint64) error {
	st := r.st
	st.ja.js.srv.Noticef("JetStream stream '%s > %s': catching up to sequence %d from its peers", st.ja.acc.Name, st.name, to)
	for {
		var ss StreamState
		st.store.FastState(&ss)
		if ss.LastSeq >= to {
			// What a consumer may deliver if this replica leads.
			st.consumersCommitted()
			st.notifyAppend()
			return nil
		}
		batch, err := r.requestCatchup(replCatchupReq{From: ss.LastSeq + 1, To: to})
		if err != nil {
			return err
		}
		if batch == nil {
			// Nobody has messages past ours: they were removed (limits,
			// purge); the sequence still moves on.
			return st.store.SkipMsgs(ss.LastSeq+1, to-ss.LastSeq)
		}
		last := ss.LastSeq
		if _, err := decodeReplMsgs(batch, func(m *replRecord) error {
			if m.seq <= last {
				return nil
			}
			last = m.seq
			return st.storeRaw(m)
		}); err != nil {
			return err
		}
		if a, ok := st.store.(storeAppender); ok {
			if err := a.commitAppended(); err != nil {
				return err
			}
		}
		if last == ss.LastSeq {
			return fmt.Errorf("catch-up made no progress at sequence %d", last)
		}
	}
}

// requestCatchup asks the peers once and returns the first answer with
// messages (nil if every answer was empty, an error if none came).
func (r *streamRepl) requestCatchup(req replCatchupReq) ([]byte, error) {
	c := r.c
	inbox := "$JSC.CUR." + randToken(8)
	var mu sync.Mutex
	got := make(chan []byte, 1)
	answers := 0
	unsub, err := c.s.SubscribeInternal(c.tr.sys, inbox, "", func(_, _ string, _, msg []byte) {
		mu.Lock()
		defer mu.Unlock()
		answers++
		if len(msg) > 0 || answers >= len(r.peers)-1 {
			select {
			case got <- append([]byte(nil), msg...):
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	defer unsub()
	body, _ := json.Marshal(&req)
	c.s.PublishInternal(c.tr.sys, replCatchupPrefix+r.group, inbox, nil, body)
	select {
	case b := <-got:
		if len(b) == 0 {
			return nil, nil
		}
		return b, nil
	case <-time.After(replCatchupTimeout):
		return nil, fmt.Errorf("no peer answered the catch-up request from sequence %d", req.From)
	}
}
