package server

// Selection: which stream message a consumer delivers next, where it
// starts, and how many it still has to deliver.

// consumerStartSeq is the first stream sequence a new consumer considers.
func (st *stream) consumerStartSeq(cfg *ConsumerConfig) uint64 {
	var ss StreamState
	st.store.FastState(&ss)
	switch cfg.DeliverPolicy {
	case DeliverByStartTime:
		if cfg.OptStartTime == nil {
			break
		}
		if seq := st.seqAtTime(*cfg.OptStartTime); seq != 0 {
			return seq
		}
		return ss.LastSeq + 1
	case DeliverNew:
		return ss.LastSeq + 1
	case DeliverLast:
		if ss.Msgs == 0 {
			return ss.LastSeq + 1
		}
		return st.lastMatching(consumerFilters(cfg), ss.LastSeq)
	case DeliverByStartSequence:
		return max(cfg.OptStartSeq, 1)
	}
	return max(ss.FirstSeq, 1)
}

// loadNext loads into sm the first message at or after from, at or below
// upTo, that passes c's filters. It reports false when there is none.
// Called by the consumer's worker with no lock held.
func (c *consumer) loadNext(filters []string, from, upTo uint64, sm *StoreMsg) bool {
	if from > upTo {
		return false
	}
	if len(filters) <= 1 {
		f := ">"
		if len(filters) == 1 {
			f = filters[0]
		}
		m, _, err := c.st.store.LoadNextMsg(f, from, sm)
		return err == nil && m != nil && m.Seq <= upTo
	}
	// Several filters: the lowest next match of any of them.
	best := uint64(0)
	for _, f := range filters {
		m, _, err := c.st.store.LoadNextMsg(f, from, sm)
		if err == nil && m != nil && m.Seq <= upTo && (best == 0 || m.Seq < best) {
			best = m.Seq
		}
	}
	if best == 0 {
		return false
	}
	m, err := c.st.store.LoadMsg(best, sm)
	return err == nil && m != nil
}

// numPending counts the messages from sseq on that pass filters, from the
// store's index alone.
func (st *stream) filtersPending(filters []string, sseq uint64) uint64 {
	ir, ok := st.store.(storeIndexReader)
	if !ok {
		return 0
	}
	if len(filters) == 0 {
		return ir.NumPending(">", sseq)
	}
	var n uint64
	for _, f := range filters {
		n += ir.NumPending(f, sseq)
	}
	return n
}

// lastMatching is the last sequence passing filters, else after last.
func (st *stream) lastMatching(filters []string, last uint64) uint64 {
	if len(filters) == 0 {
		return last
	}
	var best uint64
	var sm StoreMsg
	for _, f := range filters {
		if m, err := st.store.LoadLastMsg(f, &sm); err == nil && m != nil && m.Seq > best {
			best = m.Seq
		}
	}
	if best == 0 {
		return last + 1
	}
	return best
}

// lastPerSubject is, in order, the last sequence of every subject passing
// filters, for deliver last_per_subject; upTo is the stream's last
// sequence, where the consumer goes on afterwards.
func (st *stream) lastPerSubject(filters []string) (seqs []uint64, upTo uint64) {
	var ss StreamState
	st.store.FastState(&ss)
	ir, ok := st.store.(storeIndexReader)
	if !ok || ss.Msgs == 0 {
		return nil, ss.LastSeq
	}
	if len(filters) == 0 {
		filters = []string{">"}
	}
	return ir.LastSeqsUpTo(filters, ss.LastSeq, int(ss.Msgs)), ss.LastSeq
}
