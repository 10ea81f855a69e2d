package server

import (
	"container/heap"
	"slices"
	"sort"
	"strings"
)

// storeSlot describes one sequence of a stream. subj 0 means the sequence
// holds no message (never stored, skipped or removed).
type storeSlot struct {
	ts   int64
	loc  uint64 // Where the backend keeps the message.
	size uint32 // Accounted bytes.
	subj uint32
}

// storeSubj is the incremental per-subject state. first and last are
// recomputed lazily from the slots when the message they pointed at goes.
type storeSubj struct {
	name       string
	msgs       uint64
	first      uint64
	last       uint64
	firstStale bool
	lastStale  bool
}

type storeTTL struct {
	exp int64
	seq uint64
}

type storeTTLHeap []storeTTL

func (h storeTTLHeap) Len() int           { return len(h) }
func (h storeTTLHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h storeTTLHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *storeTTLHeap) Push(x any)        { *h = append(*h, x.(storeTTL)) }
func (h *storeTTLHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// storeIndex is the in-memory index shared by both stores: a deque of slots
// by sequence plus per-subject state, so that state, counts, last-by-subject
// and filtered scans never touch message bytes. Callers hold their lock.
type storeIndex struct {
	base    uint64 // Sequence of slots[0].
	slots   []storeSlot
	first   uint64 // First live sequence, last+1 when empty.
	last    uint64
	lastTs  int64
	msgs    uint64
	bytes   uint64
	subjIDs map[string]uint32
	subjs   []storeSubj // By id; id 0 unused.
	freeIDs []uint32
	ttls    storeTTLHeap
	// never holds the messages max_age does not remove (Nats-TTL: never);
	// ageFrom is where the search for the first aging message resumes.
	never   map[uint64]struct{}
	ageFrom uint64
	// Memo of the last wildcard filter: per subject id 0 unknown, 1 match, 2 not.
	fltr     string
	fltrMemo []uint8
}

// storeMaxSeq is the highest sequence a store accepts, far below overflow
// so that "last+1" and range loops never wrap.
const storeMaxSeq = 1<<63 - 1

// storeMaxSlotGap bounds the slots a gap may allocate while messages exist
// (4M slots, 96 MiB); larger gaps are refused rather than allocated.
const storeMaxSlotGap = 1 << 22

func newStoreIndex() *storeIndex {
	return &storeIndex{first: 1, base: 1, subjIDs: make(map[string]uint32), subjs: make([]storeSubj, 1)}
}

func (x *storeIndex) slot(seq uint64) *storeSlot {
	if seq < x.base || seq >= x.base+uint64(len(x.slots)) {
		return nil
	}
	s := &x.slots[seq-x.base]
	if s.subj == 0 {
		return nil
	}
	return s
}

// reserve makes seq the last sequence, resetting the deque when empty.
func (x *storeIndex) reserve(seq uint64) error {
	if seq <= x.last || seq > storeMaxSeq {
		return ErrStoreBadSequence
	}
	if x.msgs == 0 {
		x.slots = x.slots[:0]
		x.base = seq
		x.first = seq
	}
	end := x.base + uint64(len(x.slots))
	if seq-end > storeMaxSlotGap {
		return ErrStoreBadSequence
	}
	if seq >= end {
		x.growSlots(int(seq - end + 1))
	}
	x.last = seq
	return nil
}

// presize makes room for n more slots in one allocation, for a recovery
// that can estimate how many sequences are coming.
func (x *storeIndex) presize(n int) {
	if n > cap(x.slots)-len(x.slots) {
		x.slots = slices.Grow(x.slots, n)
	}
}

// growSlots adds n empty slots at the end, growing as append does (a
// recovery presizes instead).
func (x *storeIndex) growSlots(n int) {
	x.slots = slices.Grow(x.slots, n)
	old := len(x.slots)
	x.slots = x.slots[:old+n]
	clear(x.slots[old:])
}

// skipTo records that sequences up to seq are used without messages.
func (x *storeIndex) skipTo(seq uint64, ts int64) {
	if seq <= x.last || seq > storeMaxSeq {
		return
	}
	x.last, x.lastTs = seq, ts
	if x.msgs == 0 {
		x.slots = x.slots[:0]
		x.base, x.first = seq+1, seq+1
	}
}

func (x *storeIndex) subjID(subj string) uint32 {
	if id, ok := x.subjIDs[subj]; ok {
		return id
	}
	// Callers pass views of their own buffers; the index outlives them. A
	// subject is copied once, when first seen, not with every message.
	subj = strings.Clone(subj)
	var id uint32
	if n := len(x.freeIDs); n > 0 {
		id = x.freeIDs[n-1]
		x.freeIDs = x.freeIDs[:n-1]
		x.subjs[id] = storeSubj{name: subj}
	} else {
		id = uint32(len(x.subjs))
		x.subjs = append(x.subjs, storeSubj{name: subj})
	}
	x.subjIDs[subj] = id
	if int(id) < len(x.fltrMemo) {
		x.fltrMemo[id] = 0
	}
	return id
}

// add indexes a message at seq (above last).
func (x *storeIndex) add(seq uint64, subj string, ts int64, size uint32, loc uint64, ttl int64) error {
	if err := x.reserve(seq); err != nil {
		return err
	}
	id := x.subjID(subj)
	x.slots[seq-x.base] = storeSlot{ts: ts, loc: loc, size: size, subj: id}
	ss := &x.subjs[id]
	if ss.msgs == 0 {
		ss.first, ss.firstStale = seq, false
	}
	ss.msgs++
	ss.last, ss.lastStale = seq, false
	x.msgs++
	x.bytes += uint64(size)
	x.lastTs = ts
	if x.msgs == 1 {
		x.first = seq
	}
	if ttl > 0 {
		heap.Push(&x.ttls, storeTTL{exp: ts + ttl, seq: seq})
	} else if ttl < 0 {
		if x.never == nil {
			x.never = make(map[uint64]struct{})
		}
		x.never[seq] = struct{}{}
	}
	return nil
}

// remove drops seq from the index, returning its slot.
func (x *storeIndex) remove(seq uint64) (storeSlot, bool) {
	s := x.slot(seq)
	if s == nil {
		return storeSlot{}, false
	}
	old := *s
	s.subj, s.loc = 0, 0
	if x.never != nil {
		delete(x.never, seq)
	}
	x.msgs--
	x.bytes -= uint64(old.size)
	ss := &x.subjs[old.subj]
	ss.msgs--
	if ss.msgs == 0 {
		delete(x.subjIDs, ss.name)
		*ss = storeSubj{}
		x.freeIDs = append(x.freeIDs, old.subj)
	} else {
		ss.dropEnd(seq)
	}
	if seq == x.first {
		x.advanceFirst()
	}
	return old, true
}

// dropEnd notes that seq, one of the subject's messages, is gone. With one
// message left that is the other end, known without a scan: a key with
// history 1 loses its older message on every put, and scanning from it to
// its newer one would cost a slot per message in between.
func (ss *storeSubj) dropEnd(seq uint64) {
	switch {
	case ss.msgs == 1 && seq == ss.first && !ss.lastStale:
		ss.first, ss.firstStale = ss.last, false
	case ss.msgs == 1 && seq == ss.last && !ss.firstStale:
		ss.last, ss.lastStale = ss.first, false
	case seq == ss.first:
		ss.firstStale = true
	case seq == ss.last:
		ss.lastStale = true
	}
}

func (x *storeIndex) advanceFirst() {
	if x.msgs == 0 {
		x.slots = x.slots[:0]
		x.first = x.last + 1
		x.base = x.first
		return
	}
	i := x.first - x.base
	for i < uint64(len(x.slots)) && x.slots[i].subj == 0 {
		i++
	}
	x.first = x.base + i
	// Drop the dead front once it is most of the deque.
	if i > 1024 && i > uint64(len(x.slots))/2 {
		n := copy(x.slots, x.slots[i:])
		x.slots = x.slots[:n]
		x.base = x.first
	}
}

func (x *storeIndex) subjFirst(id uint32) uint64 {
	ss := &x.subjs[id]
	if ss.firstStale {
		seq := max(ss.first, x.first)
		for ; seq <= ss.last; seq++ {
			if s := x.slot(seq); s != nil && s.subj == id {
				break
			}
		}
		ss.first, ss.firstStale = seq, false
	}
	return ss.first
}

func (x *storeIndex) subjLast(id uint32) uint64 {
	ss := &x.subjs[id]
	if ss.lastStale {
		seq := ss.last
		for ; seq >= x.first && seq > 0; seq-- {
			if s := x.slot(seq); s != nil && s.subj == id {
				break
			}
		}
		ss.last, ss.lastStale = seq, false
	}
	return ss.last
}

// matches reports whether subject id matches filter, memoising wildcard
// results so that scans do not re-match every slot.
func (x *storeIndex) matches(id uint32, filter string, wc bool) bool {
	if !wc {
		return x.subjs[id].name == filter
	}
	if filter != x.fltr {
		x.fltr = filter
		clear(x.fltrMemo)
	}
	if int(id) >= len(x.fltrMemo) {
		x.fltrMemo = append(x.fltrMemo, make([]uint8, len(x.subjs)-len(x.fltrMemo))...)
	}
	switch x.fltrMemo[id] {
	case 1:
		return true
	case 2:
		return false
	}
	m := SubjectMatchesFilter(x.subjs[id].name, filter)
	x.fltrMemo[id] = 2
	if m {
		x.fltrMemo[id] = 1
	}
	return m
}

func storeFilterAll(filter string) bool { return filter == "" || filter == ">" }

// nextMatch returns the first live sequence >= start matching filter.
func (x *storeIndex) nextMatch(filter string, start uint64) (uint64, bool) {
	start = max(start, x.first)
	end := x.last
	wc := false
	switch {
	case storeFilterAll(filter):
		filter = ""
	case subjectHasWildcard(filter):
		wc = true
	default:
		id, ok := x.subjIDs[filter]
		if !ok {
			return 0, false
		}
		start = max(start, x.subjFirst(id))
		end = x.subjLast(id)
	}
	for seq := start; seq <= end; seq++ {
		s := x.slot(seq)
		if s == nil {
			continue
		}
		if filter == "" || x.matches(s.subj, filter, wc) {
			return seq, true
		}
	}
	return 0, false
}

// lastMatch returns the last live sequence whose subject matches filter.
func (x *storeIndex) lastMatch(filter string) (uint64, bool) {
	if x.msgs == 0 {
		return 0, false
	}
	if storeFilterAll(filter) {
		for seq := x.last; seq >= x.first; seq-- {
			if x.slot(seq) != nil {
				return seq, true
			}
		}
		return 0, false
	}
	if !subjectHasWildcard(filter) {
		id, ok := x.subjIDs[filter]
		if !ok {
			return 0, false
		}
		return x.subjLast(id), true
	}
	var best uint64
	for name, id := range x.subjIDs {
		if SubjectMatchesFilter(name, filter) {
			best = max(best, x.subjLast(id))
		}
	}
	return best, best > 0
}

func (x *storeIndex) numDeleted() int {
	if x.msgs == 0 {
		return 0
	}
	return int(x.last - x.first + 1 - x.msgs)
}

func (x *storeIndex) fastState(st *StreamState) {
	st.Msgs, st.Bytes = x.msgs, x.bytes
	st.FirstSeq, st.LastSeq = x.first, x.last
	st.FirstTime, st.LastTime = storeTime(0), storeTime(x.lastTs)
	if s := x.slot(x.first); s != nil {
		st.FirstTime = storeTime(s.ts)
	}
	st.NumSubjects = len(x.subjIDs)
	st.NumDeleted = x.numDeleted()
	st.Deleted = nil
}

func (x *storeIndex) deleted() []uint64 {
	if x.numDeleted() == 0 {
		return nil
	}
	out := make([]uint64, 0, x.numDeleted())
	for seq := x.first; seq <= x.last; seq++ {
		if x.slot(seq) == nil {
			out = append(out, seq)
		}
	}
	return out
}

func (x *storeIndex) subjectsState(filter string) map[string]SimpleState {
	out := make(map[string]SimpleState)
	for name, id := range x.subjIDs {
		if storeFilterAll(filter) || SubjectMatchesFilter(name, filter) {
			out[name] = SimpleState{Msgs: x.subjs[id].msgs, First: x.subjFirst(id), Last: x.subjLast(id)}
		}
	}
	return out
}

func (x *storeIndex) subjectsTotals(filter string) map[string]uint64 {
	out := make(map[string]uint64)
	for name, id := range x.subjIDs {
		if storeFilterAll(filter) || SubjectMatchesFilter(name, filter) {
			out[name] = x.subjs[id].msgs
		}
	}
	return out
}

// liveRange calls fn for live sequences in [from, to] in order until fn
// returns false.
func (x *storeIndex) liveRange(from, to uint64, fn func(seq uint64, s *storeSlot) bool) {
	from = max(from, x.first)
	to = min(to, x.last)
	for seq := from; seq <= to && seq >= from; seq++ {
		if s := x.slot(seq); s != nil && !fn(seq, s) {
			return
		}
	}
}

// purgeVictims lists the sequences PurgeEx removes.
func (x *storeIndex) purgeVictims(subject string, seq, keep uint64) []uint64 {
	var victims []uint64
	if storeFilterAll(subject) || subjectHasWildcard(subject) {
		x.liveRange(x.first, x.last, func(s uint64, sl *storeSlot) bool {
			if storeFilterAll(subject) || x.matches(sl.subj, subject, true) {
				victims = append(victims, s)
			}
			return true
		})
	} else if id, ok := x.subjIDs[subject]; ok {
		x.liveRange(x.subjFirst(id), x.subjLast(id), func(s uint64, sl *storeSlot) bool {
			if sl.subj == id {
				victims = append(victims, s)
			}
			return true
		})
	}
	if seq > 0 {
		i := sort.Search(len(victims), func(i int) bool { return victims[i] >= seq })
		victims = victims[:i]
	}
	if keep > 0 {
		if storeFilterAll(subject) || !subjectHasWildcard(subject) {
			if uint64(len(victims)) <= keep {
				return nil
			}
			return victims[:uint64(len(victims))-keep]
		}
		victims = x.keepPerSubject(victims, keep)
	}
	return victims
}

// keepPerSubject drops from victims the newest keep messages of every subject.
func (x *storeIndex) keepPerSubject(victims []uint64, keep uint64) []uint64 {
	seen := make(map[uint32]uint64)
	out := victims[:0:0]
	for i := len(victims) - 1; i >= 0; i-- {
		id := x.slot(victims[i]).subj
		if seen[id] < keep {
			seen[id]++
			continue
		}
		out = append(out, victims[i])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// limitVictim returns the next message the limits of cfg require removing
// after a store to subject id (0 for none), or false.
func (x *storeIndex) limitVictim(cfg *StreamConfig, id uint32) (uint64, bool) {
	if cfg.MaxMsgsPer > 0 && id != 0 && int(id) < len(x.subjs) && x.subjs[id].msgs > uint64(cfg.MaxMsgsPer) {
		return x.subjFirst(id), true
	}
	if cfg.Discard == DiscardOld || cfg.MaxMsgsPer > 0 {
		if cfg.MaxMsgs > 0 && x.msgs > uint64(cfg.MaxMsgs) {
			return x.first, true
		}
		if cfg.MaxBytes > 0 && x.bytes > uint64(cfg.MaxBytes) && x.msgs > 0 {
			return x.first, true
		}
	}
	return 0, false
}

// overPerSubject lists victims of the per-subject limit across all subjects,
// used when the limit is lowered or on recovery.
func (x *storeIndex) overPerSubject(limit int64) []uint64 {
	if limit <= 0 {
		return nil
	}
	var victims []uint64
	for _, id := range x.subjIDs {
		if x.subjs[id].msgs <= uint64(limit) {
			continue
		}
		extra := x.subjs[id].msgs - uint64(limit)
		x.liveRange(x.subjFirst(id), x.subjLast(id), func(seq uint64, s *storeSlot) bool {
			if s.subj == id {
				victims = append(victims, seq)
				extra--
			}
			return extra > 0
		})
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i] < victims[j] })
	return victims
}

// checkDiscardNew reports whether a message of size to subject must be
// refused under the discard-new policy.
func (x *storeIndex) checkDiscardNew(cfg *StreamConfig, subj string, size uint64) error {
	if cfg.Discard != DiscardNew {
		return nil
	}
	if cfg.MaxMsgs > 0 && x.msgs >= uint64(cfg.MaxMsgs) {
		return ErrMaxMsgs
	}
	if cfg.MaxBytes > 0 && x.bytes+size > uint64(cfg.MaxBytes) {
		return ErrMaxBytes
	}
	if cfg.DiscardNewPer && cfg.MaxMsgsPer > 0 {
		if id, ok := x.subjIDs[subj]; ok && x.subjs[id].msgs >= uint64(cfg.MaxMsgsPer) {
			return ErrMaxMsgsPerSubject
		}
	}
	return nil
}

// nextExpiry returns the Unix-nanosecond time of the next age or TTL expiry.
func (x *storeIndex) nextExpiry(maxAge int64) (int64, bool) {
	var next int64
	ok := false
	if seq, aging := x.firstAging(); aging && maxAge > 0 {
		next, ok = x.slot(seq).ts+maxAge, true
	}
	for len(x.ttls) > 0 && x.slot(x.ttls[0].seq) == nil {
		heap.Pop(&x.ttls)
	}
	if len(x.ttls) > 0 && (!ok || x.ttls[0].exp < next) {
		next, ok = x.ttls[0].exp, true
	}
	return next, ok
}

// expired lists messages past their age or TTL at now.
func (x *storeIndex) expired(now, maxAge int64) []uint64 {
	var out []uint64
	if start, aging := x.firstAging(); aging && maxAge > 0 {
		x.liveRange(start, x.last, func(seq uint64, s *storeSlot) bool {
			if _, kept := x.never[seq]; kept {
				return true
			}
			if s.ts+maxAge > now {
				return false
			}
			out = append(out, seq)
			return true
		})
	}
	for len(x.ttls) > 0 && x.ttls[0].exp <= now {
		t := heap.Pop(&x.ttls).(storeTTL)
		if x.slot(t.seq) != nil {
			out = append(out, t.seq)
		}
	}
	return out
}

// firstAging returns the first live message max_age applies to. Messages
// kept forever are skipped once: the search resumes where it stopped, so a
// stream that starts with many of them is not rescanned at every expiry.
func (x *storeIndex) firstAging() (uint64, bool) {
	if len(x.never) == 0 {
		return x.first, x.slot(x.first) != nil
	}
	if x.ageFrom > x.last+1 { // a truncation moved last below it
		x.ageFrom = 0
	}
	found := uint64(0)
	x.liveRange(max(x.first, x.ageFrom), x.last, func(seq uint64, _ *storeSlot) bool {
		if _, kept := x.never[seq]; kept {
			return true
		}
		found = seq
		return false
	})
	if found == 0 {
		x.ageFrom = x.last + 1
		return 0, false
	}
	x.ageFrom = found
	return found, true
}
