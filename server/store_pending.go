package server

import "sort"

// Index queries for batched reads (direct get batches and multi_last, and
// later consumers): counts and per-subject last sequences answered from the
// in-memory index alone, never from message bytes. Both stores have them
// through storeCore; callers reach them with a type assertion on
// storeIndexReader so that StreamStore stays the storage contract.

// storeIndexReader is implemented by the memory and the file store.
type storeIndexReader interface {
	// NumPending counts live messages matching filter at or after start.
	NumPending(filter string, start uint64) uint64
	// LastSeqsUpTo returns, in sequence order, the last sequence at or below
	// upTo of every subject matching one of filters. More than limit
	// results returns limit+1 of them, which callers refuse.
	LastSeqsUpTo(filters []string, upTo uint64, limit int) []uint64
	// SubjectLastSeq is the last sequence stored on a literal subject, 0
	// if none.
	SubjectLastSeq(subject string) uint64
}

var (
	_ storeIndexReader = (*MemStore)(nil)
	_ storeIndexReader = (*FileStore)(nil)
)

// NumPending implements storeIndexReader.
func (c *storeCore) NumPending(filter string, start uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0
	}
	return c.idx.numPending(filter, start)
}

// LastSeqsUpTo implements storeIndexReader.
func (c *storeCore) LastSeqsUpTo(filters []string, upTo uint64, limit int) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.idx.lastSeqsUpTo(filters, upTo, limit)
}

// numPending counts the live sequences >= start matching filter. Whole
// subjects are counted from their totals; only the part of the range a
// subject straddles is scanned, from the shorter side.
func (x *storeIndex) numPending(filter string, start uint64) uint64 {
	start = max(start, x.first)
	if x.msgs == 0 || start > x.last {
		return 0
	}
	if storeFilterAll(filter) {
		return x.countRange(start, x.last, x.msgs, func(uint32) bool { return true })
	}
	if !subjectHasWildcard(filter) {
		id, ok := x.subjIDs[filter]
		if !ok {
			return 0
		}
		return x.subjPending(id, start)
	}
	var n uint64
	for name, id := range x.subjIDs {
		if SubjectMatchesFilter(name, filter) {
			n += x.subjPending(id, start)
		}
	}
	return n
}

func (x *storeIndex) subjPending(id uint32, start uint64) uint64 {
	first, last := x.subjFirst(id), x.subjLast(id)
	switch {
	case start <= first:
		return x.subjs[id].msgs
	case start > last:
		return 0
	}
	return x.countRange(start, last, x.subjs[id].msgs, func(s uint32) bool { return s == id })
}

// countRange counts live slots in [from, to] whose subject passes keep,
// given total, the count over [x.first, to]: it scans whichever of
// [x.first, from) and [from, to] is shorter.
func (x *storeIndex) countRange(from, to, total uint64, keep func(uint32) bool) uint64 {
	var n uint64
	if from-x.first < to-from {
		x.liveRange(x.first, from-1, func(_ uint64, s *storeSlot) bool {
			if keep(s.subj) {
				n++
			}
			return true
		})
		return total - n
	}
	x.liveRange(from, to, func(_ uint64, s *storeSlot) bool {
		if keep(s.subj) {
			n++
		}
		return true
	})
	return n
}

func (x *storeIndex) lastSeqsUpTo(filters []string, upTo uint64, limit int) []uint64 {
	if x.msgs == 0 || upTo < x.first {
		return nil
	}
	matchAny := func(name string) bool {
		for _, f := range filters {
			if storeFilterAll(f) || SubjectMatchesFilter(name, f) {
				return true
			}
		}
		return false
	}
	var out []uint64
	if upTo >= x.last {
		for name, id := range x.subjIDs {
			if matchAny(name) {
				if out = append(out, x.subjLast(id)); len(out) > limit {
					break
				}
			}
		}
	} else {
		out = x.lastSeqsBelow(matchAny, upTo, limit)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// lastSeqsBelow scans down from upTo, keeping the first (newest) sequence
// seen of each matching subject, and stops once every matching subject
// with a message at or below upTo has been found.
func (x *storeIndex) lastSeqsBelow(matchAny func(string) bool, upTo uint64, limit int) []uint64 {
	want := 0
	for name, id := range x.subjIDs {
		if matchAny(name) && x.subjFirst(id) <= upTo {
			want++
		}
	}
	seen := make(map[uint32]bool)
	var out []uint64
	for seq := upTo; seq >= x.first && seq > 0 && len(out) < want && len(out) <= limit; seq-- {
		s := x.slot(seq)
		if s == nil || seen[s.subj] {
			continue
		}
		seen[s.subj] = true
		if matchAny(x.subjs[s.subj].name) {
			out = append(out, seq)
		}
	}
	return out
}

// SubjectLastSeq implements storeIndexReader.
func (c *storeCore) SubjectLastSeq(subject string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0
	}
	if id, ok := c.idx.subjIDs[subject]; ok {
		return c.idx.subjLast(id)
	}
	return 0
}
