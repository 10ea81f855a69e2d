package server

import (
	"time"
)

// Repair of a replica whose store lost data to corruption (a bit flip, a
// truncated or unreadable block), so that a replicated stream loses
// nothing a majority acknowledged when one replica's disk goes bad.
//
// When: at start, before the replica's Raft node starts, if the store's
// recovery found corrupt records (storeLostFrom, store_repair.go); while
// running, if a read found a corrupt message (the store drops it and
// reports it; the check runs with the leadership watch); and whenever the
// store is behind what the log gave it and the log no longer holds the
// entries (a snapshot was taken since: catchupTo).
//
// How: the store is cut back to the sequence before the first loss, so
// that every message after it is stored again in order, at its own
// sequence and time. At start the Raft log's replay gives back what the
// log still holds (applyMsgs stores what is above the store's last
// sequence). What the log no longer holds is fetched from the peers with
// the catch-up request (stream_replicate_catchup.go) up to catchupTo, the
// last sequence the log gave the replica: entries applied meanwhile raise
// it and are not stored until the store reaches them, so the store never
// has a hole. The fetching runs on the node's goroutine (raftNode.do), so
// no entry is applied while the store is being refilled.
//
// While it repairs, a replica neither leads nor answers: it hands the
// leadership to another member if it has it, takes no publishes
// (beginLeading), starts no consumers and leaves API requests and reads
// to the leader; so a damaged store is never served, and never becomes
// what the other replicas are truncated to.

// replRepairRetry is how long a repair waits before asking the peers again
// when none could answer.
const replRepairRetry = 2 * time.Second

// replRepairSettle is how long a replica that stopped leading waits before
// cutting its store at run time: a round begun while it led has ended.
const replRepairSettle = time.Second

// repairing tells whether the replica's store lacks data it must fetch
// again (a loss not yet cut back, or a catch-up under way).
func (r *streamRepl) repairing() bool {
	return r.catchupTo.Load() != 0 || storeLostFrom(r.st.store) != 0
}

// raiseCatchup makes the catch-up reach at least seq.
func (r *streamRepl) raiseCatchup(seq uint64) {
	for {
		cur := r.catchupTo.Load()
		if seq <= cur || r.catchupTo.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// cutBeforeLoss cuts the store back to just before the first sequence its
// recovery found lost. It runs before the node starts, whose replay then
// stores again what the log holds.
func (r *streamRepl) cutBeforeLoss() error {
	from := storeLostFrom(r.st.store)
	if from == 0 {
		return nil
	}
	return r.cutBack(from, false)
}

// cutBack truncates the store to from-1 and forgets the loss; with
// refetch, everything up to the last sequence applied is fetched again
// from the peers (at run time the log's entries were applied already).
func (r *streamRepl) cutBack(from uint64, refetch bool) error {
	st := r.st
	var ss StreamState
	st.store.FastState(&ss)
	st.ja.js.srv.Warnf("JetStream stream '%s > %s': store lost data from sequence %d (corrupt): "+
		"cutting it back to sequence %d and fetching the rest again from the group", st.ja.acc.Name, st.name, from, from-1)
	if refetch {
		r.raiseCatchup(max(ss.LastSeq, r.applied.Load()))
	}
	if from-1 < ss.LastSeq {
		if err := st.store.Truncate(from - 1); err != nil {
			return err
		}
	}
	if lr, ok := st.store.(storeLossReporter); ok {
		lr.clearLostFrom(from)
	}
	return nil
}

// deferWhileRepairing takes a messages entry applied while the store is
// being refilled: its messages are not stored (the store does not reach
// them yet) but fetched by the catch-up, which now goes up to them.
func (r *streamRepl) deferWhileRepairing(data []byte) (bool, error) {
	if r.catchupTo.Load() == 0 {
		return false, nil
	}
	var last uint64
	if _, err := decodeReplMsgs(data, func(m *replRecord) error {
		last = m.seq
		return nil
	}); err != nil {
		return true, err
	}
	if last > 0 {
		r.raiseCatchup(last)
		r.applied.Store(last)
	}
	return true, nil
}

// startRepair starts the repair goroutine unless it runs.
func (r *streamRepl) startRepair(from uint64) {
	if r.repairRunning.CompareAndSwap(false, true) {
		go r.repairLoop(from)
	}
}

// repairLoop cuts the store back before from (0: no cut) and fetches from
// the peers until the store holds everything the log gave the replica.
func (r *streamRepl) repairLoop(from uint64) {
	defer r.repairRunning.Store(false)
	st := r.st
	for {
		var err error
		if derr := r.node.do(func() {
			if from != 0 {
				if err = r.cutBack(from, true); err == nil {
					from = 0
				}
			}
			if err == nil {
				err = r.repairStep()
			}
		}); derr != nil {
			return // stopped
		}
		if err == nil && r.catchupTo.Load() == 0 {
			return
		}
		if err != nil {
			st.ja.js.srv.Warnf("JetStream stream '%s > %s': repairing: %v", st.ja.acc.Name, st.name, err)
		}
		select {
		case <-r.quit:
			return
		case <-time.After(replRepairRetry):
		}
	}
}

// repairStep fetches up to catchupTo; on the node's goroutine, so that no
// entry is applied meanwhile.
func (r *streamRepl) repairStep() error {
	to := r.catchupTo.Load()
	if to == 0 {
		return nil
	}
	if err := r.catchUp(to); err != nil {
		return err
	}
	r.catchupTo.Store(0)
	st := r.st
	st.ja.js.srv.Noticef("JetStream stream '%s > %s': store repaired up to sequence %d", st.ja.acc.Name, st.name, to)
	st.notifyAppend()
	return nil
}

// checkRepair runs with the leadership watch: a replica whose store
// reported a loss hands the leadership over, then, once it has not led
// for a while, repairs.
func (r *streamRepl) checkRepair() {
	lost := storeLostFrom(r.st.store)
	if lost == 0 && r.catchupTo.Load() == 0 {
		return
	}
	if r.node.IsLeader() {
		r.notLeading = time.Time{}
		_ = r.node.TransferLeadership(0)
		return
	}
	if lost == 0 {
		r.startRepair(0) // a catch-up: on unless it runs
		return
	}
	if r.notLeading.IsZero() {
		r.notLeading = time.Now()
	}
	if time.Since(r.notLeading) >= replRepairSettle {
		r.startRepair(lost)
	}
}
