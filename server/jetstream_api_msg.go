package server

import (
	"errors"
	"time"
)

// JSApiStreamPurgeResponse answers STREAM.PURGE.
type JSApiStreamPurgeResponse struct {
	ApiResponse
	Success bool   `json:"success,omitempty"`
	Purged  uint64 `json:"purged"`
}

// purgeErr is a failed purge: the reference keeps "purged":0 in it.
func purgeErr(e *ApiError) any { return &JSApiStreamPurgeResponse{ApiResponse: ApiResponse{Error: e}} }

func (ja *jsAccount) apiStreamPurge(r *jsAPIRequest, args []string) any {
	var req struct {
		Filter string `json:"filter,omitempty"`
		Seq    uint64 `json:"seq,omitempty"`
		Keep   uint64 `json:"keep,omitempty"`
	}
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return purgeErr(e)
		}
	}
	st := ja.lookupStream(args[0])
	switch {
	case st == nil:
		return purgeErr(jsError(jsStreamNotFound))
	case req.Seq > 0 && req.Keep > 0:
		return purgeErr(jsError(jsBadRequest))
	case st.cfg().Sealed:
		return purgeErr(jsError(jsStreamSealed))
	case st.cfg().DenyPurge:
		return purgeErr(jsError(jsStreamPurgeFailed, "stream purge not permitted"))
	}
	var n uint64
	var err error
	if req.Filter == "" && req.Seq == 0 && req.Keep == 0 {
		n, err = st.store.Purge()
	} else {
		n, err = st.store.PurgeEx(req.Filter, req.Seq, req.Keep)
	}
	if err != nil {
		return purgeErr(jsError(jsStreamPurgeFailed, err))
	}
	return &JSApiStreamPurgeResponse{Success: true, Purged: n}
}

// StoredMsg is a message as STREAM.MSG.GET returns it; the byte slices
// encode as base64.
type StoredMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Time     time.Time `json:"time"`
}

// JSApiMsgGetResponse answers STREAM.MSG.GET.
type JSApiMsgGetResponse struct {
	ApiResponse
	Message *StoredMsg `json:"message,omitempty"`
}

// jsMsgGetRequest is the body of STREAM.MSG.GET.
type jsMsgGetRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	NoHeaders bool       `json:"no_hdr,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
}

// valid applies the reference's rules: one way to pick the message,
// next_by_subj optionally starting at seq or start_time, no batching.
func (q *jsMsgGetRequest) valid() bool {
	n := 0
	for _, set := range []bool{q.Seq > 0, q.LastFor != "", q.StartTime != nil} {
		if set {
			n++
		}
	}
	switch {
	case q.Batch != 0 || q.MaxBytes != 0:
		return false
	case q.NextFor != "":
		return q.LastFor == "" && !(q.Seq > 0 && q.StartTime != nil)
	}
	return n == 1
}

func (ja *jsAccount) apiMsgGet(r *jsAPIRequest, args []string) any {
	var req jsMsgGetRequest
	if e := r.decodeRequired(&req); e != nil {
		return errResponse(e)
	}
	st := ja.lookupStream(args[0])
	if st == nil {
		return errResponse(jsError(jsStreamNotFound))
	}
	if !req.valid() {
		return errResponse(jsError(jsBadRequest))
	}
	sm, err := st.loadForGet(&req)
	if err != nil {
		return errResponse(jsError(jsNoMessageFound))
	}
	m := &StoredMsg{Subject: sm.Subject, Sequence: sm.Seq, Data: sm.Msg, Time: time.Unix(0, sm.TS).UTC()}
	if !req.NoHeaders {
		m.Header = sm.Hdr
	}
	return &JSApiMsgGetResponse{Message: m}
}

func (st *stream) loadForGet(q *jsMsgGetRequest) (*StoreMsg, error) {
	start := q.Seq
	if q.StartTime != nil {
		start = st.seqAtTime(*q.StartTime)
		if start == 0 {
			return nil, ErrStoreMsgNotFound
		}
	}
	switch {
	case q.LastFor != "":
		return st.store.LoadLastMsg(q.LastFor, nil)
	case q.NextFor != "" || q.StartTime != nil:
		filter := q.NextFor
		if filter == "" {
			filter = ">"
		}
		sm, _, err := st.store.LoadNextMsg(filter, max(start, 1), nil)
		return sm, err
	}
	return st.store.LoadMsg(q.Seq, nil)
}

// seqAtTime is the first sequence stored at or after t, 0 if none: a
// binary search over the sequence range, skipping gaps forward.
func (st *stream) seqAtTime(t time.Time) uint64 {
	var ss StreamState
	st.store.FastState(&ss)
	ts := t.UnixNano()
	lo, hi := ss.FirstSeq, ss.LastSeq
	var found uint64
	for lo <= hi && lo > 0 {
		mid := lo + (hi-lo)/2
		sm, next, err := st.store.LoadNextMsg(">", mid, nil)
		if err != nil || sm == nil {
			hi = mid - 1
			continue
		}
		if sm.TS >= ts {
			found = sm.Seq
			hi = mid - 1
		} else {
			lo = max(next, sm.Seq+1)
		}
	}
	return found
}

func (ja *jsAccount) apiMsgDelete(r *jsAPIRequest, args []string) any {
	var req struct {
		Seq     uint64 `json:"seq"`
		NoErase bool   `json:"no_erase,omitempty"`
	}
	if e := r.decodeRequired(&req); e != nil {
		return errResponse(e)
	}
	st := ja.lookupStream(args[0])
	switch {
	case st == nil:
		return errResponse(jsError(jsStreamNotFound))
	case st.cfg().Sealed:
		return errResponse(jsError(jsStreamSealed))
	case st.cfg().DenyDelete:
		return errResponse(jsError(jsStreamMsgDeleteFailed, "message delete not permitted"))
	}
	var removed bool
	var err error
	if req.NoErase {
		removed, err = st.store.RemoveMsg(req.Seq)
	} else {
		removed, err = st.store.EraseMsg(req.Seq)
	}
	if err != nil && !errors.Is(err, ErrStoreMsgNotFound) {
		return errResponse(jsError(jsStreamMsgDeleteFailed, err))
	}
	if !removed {
		return errResponse(msgDeleteNotFound(st, req.Seq))
	}
	return &JSApiSuccessResponse{Success: true}
}

// msgDeleteNotFound is the reference's answer (observed) to deleting a
// sequence that holds no message: a memory stream says 10043 "sequence N
// not found"; a file stream says 10057 with the store's words outside
// first..last ("stream store EOF" past the last sequence, "no message
// found" before the first) and 10043 for a gap inside.
func msgDeleteNotFound(st *stream, seq uint64) *ApiError {
	if st.cfg().Storage == MemoryStorage {
		return jsError(jsSequenceNotFound, seq)
	}
	var ss StreamState
	st.store.FastState(&ss)
	switch {
	case seq > ss.LastSeq:
		return jsError(jsStreamMsgDeleteFailed, ErrStoreEOF)
	case seq < ss.FirstSeq:
		return jsError(jsStreamMsgDeleteFailed, ErrStoreMsgNotFound)
	}
	return jsError(jsSequenceNotFound, seq)
}
