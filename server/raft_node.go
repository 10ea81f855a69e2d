package server

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// raftNode is one member of one Raft group: a go.etcd.io/raft RawNode driven
// by a goroutine of its own (run), a durable log (raftLog) and a transport
// to the other members. The RawNode and the log are touched only by that
// goroutine; everyone else talks to it through channels.
//
// The Ready contract is followed as the library states it: a Ready's
// snapshot, entries and hard state are written and fsynced before its
// messages are sent and before its committed entries are applied, which
// happens in log order on the same goroutine; then Advance.
//
// Entries proposed through a raftNode carry a header of their own in front
// of the application's data:
//
//	u64 proposer's node id | u64 proposal number | application data
//
// so that the node that proposed an entry learns when it was applied
// (propose's result) while every member applies the same bytes.
type raftNode struct {
	id    uint64
	group string
	fsm   raftStateMachine
	tr    raftTransport
	log   *raftLog
	store *raft.MemoryStorage
	rn    *raft.RawNode
	tick  time.Duration
	snapN uint64 // entries applied between snapshots
	// snapOnAdd and forceSnap: snapshot and compact after adding a member
	// while leading (raftNodeConfig.snapOnAdd); forceSnap is owned by run.
	snapOnAdd bool
	forceSnap bool

	recvc chan *pb.Message
	propc chan raftProposal
	ctlc  chan func()
	quit  chan struct{}
	done  chan struct{}

	applied   uint64
	snapIndex uint64
	confState *pb.ConfState
	nextProp  uint64                // owned by run
	viewAt    time.Time             // when run last published the view
	viewDue   bool                  // publish the view now (owned by run)
	lateBuf   []*pb.Message         // scratch for handleReady, owned by run
	waiting   map[uint64]chan error // proposals of ours not yet applied, by number
	contact   map[uint64]time.Time  // last message from each peer, owned by run
	leader    atomic.Uint64         // current leader's id, 0 if none known
	term      atomic.Uint64         // current term
	appTerm   atomic.Uint64         // term of the last entry applied
	// leaderSince is when the current leader became known (unix ns).
	leaderSince atomic.Int64
	status      atomic.Pointer[raftView] // refreshed by run for readers
	stopOnce    sync.Once
	err         atomic.Pointer[error] // the I/O error that stopped the node
	// replayTo is the commit index found on disk at start: entries up to it
	// are re-applied from the log, not new (their proposers were answered
	// before the restart, if ever).
	replayTo uint64
	// ledSince (when this node became leader, zero while it is not) and
	// everLeader are for /raftz; owned by run.
	ledSince   time.Time
	everLeader bool
	namesMu    sync.Mutex
	names      map[uint64]string // member names, from the context of their conf changes
	changed    chan<- struct{}   // raftNodeConfig.changed
	// holdTo and bootLen: a member that started with an empty log holds
	// its votes until it applied holdTo (raft_rejoin.go); owned by run.
	holdTo  uint64
	bootLen uint64
	// onLostLog asks the leader to re-add this member (its log was lost);
	// lostAsked, readding and readdNext are the re-add's state, owned by
	// run (raft_rejoin.go).
	onLostLog func()
	lostAsked time.Time
	readding  map[uint64]bool
	readdNext []uint64
}

// raftStateMachine is what a Raft group replicates. Apply and Restore run
// on the node's goroutine, in log order; they may block on disk, which holds
// back this group only.
type raftStateMachine interface {
	// Apply applies a committed entry's data; index is its log index.
	Apply(index uint64, data []byte)
	// Snapshot returns the state as of the last applied entry.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's.
	Restore(data []byte) error
}

// raftTransport carries a group's messages to the other members. Send must
// not block for long: Raft tolerates lost messages, not a stuck loop.
type raftTransport interface {
	Send(group string, msgs []*pb.Message)
}

// raftProposal is data to append, with where to tell the proposer.
type raftProposal struct {
	data []byte
	done chan error
}

// raftView is a snapshot of a node's state for readers outside run.
type raftView struct {
	leader  uint64
	term    uint64
	applied uint64
	commit  uint64
	voters  []uint64
	peers   []raftPeerView
	// For /raftz (monitor_raftz.go).
	state       raft.StateType
	vote        uint64
	firstIndex  uint64 // of the entries still in the log
	lastIndex   uint64
	lastTerm    uint64
	walBytes    int64
	lastWrite   time.Time
	leaderSince time.Time // when this node became leader (zero: not leader)
	everLeader  bool      // a leader was ever known
	queued      int       // proposals waiting for the node's goroutine
	leaderSeen  time.Time // last message from the leader
}

// raftPeerView is what the leader knows of a member.
type raftPeerView struct {
	id      uint64
	match   uint64
	current bool
	active  time.Time // last message received from it
}

// raftNodeConfig is what startRaftNode needs.
type raftNodeConfig struct {
	id        uint64
	group     string
	peers     []uint64 // the initial members (used only for a new log)
	dir       string
	fs        storeFS // nil: the OS
	fsm       raftStateMachine
	transport raftTransport
	tick      time.Duration // 0: 100ms
	snapEvery uint64        // 0: 8192 entries
	// snapOnAdd: a leader that adds a member snapshots and compacts its
	// log right away, so the new member starts from a snapshot that
	// names it (the library refuses one that does not) and fetches the
	// state through the state machine's Restore.
	snapOnAdd bool
	logger    raft.Logger // nil: discard
	crypt     raftCrypt   // encryption at rest (zero: clear)
	// changed, if not nil, gets a signal (never blocking) when the
	// node's role or leader changes and when a leader has applied the
	// first entry of its term (LeaderReady may have changed).
	changed   chan<- struct{}
	onLostLog func() // asks the leader for a re-add (raft_rejoin.go)
}

var (
	errRaftStopped  = errors.New("raft group stopped")
	errRaftNoLeader = errors.New("raft group has no leader")
	errRaftNotLead  = errors.New("not the raft group's leader")
)

const (
	raftElectionTicks  = 10
	raftHeartbeatTicks = 1
	raftPropHdr        = 16
)

// startRaftNode opens the node's log and starts its goroutine. A new log
// bootstraps the group with cfg.peers; an existing one resumes where it was.
func startRaftNode(cfg raftNodeConfig) (*raftNode, error) {
	sys := cfg.fs
	if sys == nil {
		sys = osFS{}
	}
	seal, err := openRaftSealer(sys, cfg.dir, cfg.group, cfg.crypt)
	if err != nil {
		return nil, err
	}
	l, err := openRaftLogSealed(sys, cfg.dir, seal)
	if err != nil {
		return nil, err
	}
	n := &raftNode{
		id: cfg.id, group: cfg.group, fsm: cfg.fsm, tr: cfg.transport, log: l,
		store: raft.NewMemoryStorage(), tick: cfg.tick, snapN: cfg.snapEvery, snapOnAdd: cfg.snapOnAdd,
		recvc: make(chan *pb.Message, 4096), propc: make(chan raftProposal, 1024),
		ctlc: make(chan func(), 16), quit: make(chan struct{}), done: make(chan struct{}),
		waiting: make(map[uint64]chan error), contact: make(map[uint64]time.Time),
		names: make(map[uint64]string), changed: cfg.changed, onLostLog: cfg.onLostLog,
		readding: make(map[uint64]bool),
	}
	if n.tick == 0 {
		n.tick = 100 * time.Millisecond
	}
	if n.snapN == 0 {
		n.snapN = 8192
	}
	fresh, err := n.recover()
	if err != nil {
		l.close()
		return nil, err
	}
	if fresh {
		n.holdVotes(len(cfg.peers))
	}
	logger := cfg.logger
	if logger == nil {
		logger = raftDiscardLogger{}
	}
	rc := &raft.Config{
		ID: cfg.id, ElectionTick: raftElectionTicks, HeartbeatTick: raftHeartbeatTicks,
		Storage: n.store, Applied: n.applied, MaxSizePerMsg: 1 << 20,
		MaxInflightMsgs: 256, MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum: true, PreVote: true, StepDownOnRemoval: true, Logger: logger,
		DisableProposalForwarding: true,
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		l.close()
		return nil, err
	}
	if fresh && len(cfg.peers) > 0 {
		peers := make([]raft.Peer, len(cfg.peers))
		for i, p := range cfg.peers {
			peers[i] = raft.Peer{ID: p}
		}
		if err := rn.Bootstrap(peers); err != nil {
			l.close()
			return nil, err
		}
	}
	n.rn = rn
	n.publishView()
	go n.run()
	return n, nil
}

// recover loads the log into the in-memory storage and the state machine;
// it reports whether the log was empty (a new member).
func (n *raftNode) recover() (bool, error) {
	l := n.log
	if l.snap != nil {
		if err := n.store.ApplySnapshot(l.snap); err != nil {
			return false, err
		}
		if err := n.fsm.Restore(l.snap.GetData()); err != nil {
			return false, err
		}
		n.applied = l.snapIndex()
		n.snapIndex = n.applied
		n.confState = l.snap.GetMetadata().GetConfState()
	}
	if len(l.ents) > 0 {
		if err := n.store.Append(l.ents); err != nil {
			return false, err
		}
	}
	if l.hard.Term != nil {
		if err := n.store.SetHardState(&l.hard); err != nil {
			return false, err
		}
	}
	n.replayTo = l.hard.GetCommit()
	fresh := l.snap == nil && len(l.ents) == 0 && l.hard.GetTerm() == 0
	l.ents = nil // the storage has them now
	return fresh, nil
}

// run is the node's goroutine: time, messages and proposals in, Ready out.
func (n *raftNode) run() {
	defer close(n.done)
	t := time.NewTicker(n.tick)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			n.failWaiting(errRaftStopped)
			n.log.close()
			return
		case <-t.C:
			n.rn.Tick()
			n.viewDue = true
		case m := <-n.recvc:
			n.stepMsg(m)
		case p := <-n.propc:
			n.proposeNow(p)
		case f := <-n.ctlc:
			f()
		}
		n.drainInputs()
		for n.rn.HasReady() {
			if err := n.handleReady(n.rn.Ready()); err != nil {
				n.fail(err)
				return
			}
		}
		n.releaseHold()
		if now := time.Now(); n.viewDue || now.Sub(n.viewAt) >= raftViewEvery {
			n.viewDue, n.viewAt = false, now
			n.publishView()
		}
	}
}

// raftViewEvery bounds how often a busy node refreshes its view: the
// library's Status copies the progress of every member, too much to do
// for every message. Ticks and changes of role, leader, term or members
// refresh it at once.
const raftViewEvery = 2 * time.Millisecond

// raftDrainMax bounds the messages and proposals taken between two
// Readies, so that a flood cannot starve the ticker.
const raftDrainMax = 1024

// drainInputs takes what else is queued (messages and proposals) before
// the next Ready: one Ready, and so one fsync, covers all of it.
func (n *raftNode) drainInputs() {
	for i := 0; i < raftDrainMax; i++ {
		select {
		case m := <-n.recvc:
			n.stepMsg(m)
		case p := <-n.propc:
			n.proposeNow(p)
		default:
			return
		}
	}
}

// stepMsg hands a peer's message to the library.
func (n *raftNode) stepMsg(m *pb.Message) {
	n.contact[m.GetFrom()] = time.Now()
	if n.admit(m) {
		n.rn.Step(m)
	}
}

// proposeNow hands a proposal to the library, framing it with our header.
func (n *raftNode) proposeNow(p raftProposal) {
	n.nextProp++
	b := make([]byte, raftPropHdr, raftPropHdr+len(p.data))
	binary.LittleEndian.PutUint64(b, n.id)
	binary.LittleEndian.PutUint64(b[8:], n.nextProp)
	b = append(b, p.data...)
	if err := n.rn.Propose(b); err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			err = errRaftNotLead
		}
		p.done <- err
		return
	}
	n.waiting[n.nextProp] = p.done
}

// handleReady does one Ready in the order the library requires.
func (n *raftNode) handleReady(rd raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.log.saveSnapshot(rd.Snapshot); err != nil {
			return err
		}
		if err := n.store.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
		if err := n.fsm.Restore(rd.Snapshot.GetData()); err != nil {
			return err
		}
		n.applied = rd.Snapshot.GetMetadata().GetIndex()
		n.snapIndex = n.applied
		n.confState = rd.Snapshot.GetMetadata().GetConfState()
		n.viewDue = true
	}
	// Messages that promise nothing about this node's disk go out before
	// it persists (see splitReadyMessages): a leader's appends reach the
	// followers while its own fsync runs, so the round trip to a majority
	// costs one fsync, not two in a row.
	early, late := splitReadyMessages(rd.Messages, n.lateBuf[:0])
	if len(early) > 0 {
		n.tr.Send(n.group, early)
	}
	committed := rd.CommittedEntries
	if len(late) == 0 {
		// No answer waits for this Ready's fsync: apply first what this
		// node's log already holds durably, so that a leader's
		// proposers (the PubAcks of a round) do not wait for the fsync
		// of the next round's entries. A follower answers first.
		k := len(committed)
		if len(rd.Entries) > 0 {
			first := rd.Entries[0].GetIndex()
			k, _ = slices.BinarySearchFunc(committed, first, func(e *pb.Entry, idx uint64) int {
				return cmp.Compare(e.GetIndex(), idx)
			})
		}
		if err := n.applyEntries(committed[:k]); err != nil {
			return err
		}
		committed = committed[k:]
	}
	if err := n.log.save(rd.HardState, rd.Entries); err != nil {
		return err
	}
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		n.store.SetHardState(rd.HardState)
		if n.term.Swap(rd.HardState.GetTerm()) != rd.HardState.GetTerm() {
			n.viewDue = true
		}
	}
	if len(rd.Entries) > 0 {
		if err := n.store.Append(rd.Entries); err != nil {
			return err
		}
	}
	if rd.SoftState != nil {
		if rd.SoftState.Lead != n.leader.Load() {
			n.leaderSince.Store(time.Now().UnixNano())
		}
		n.leader.Store(rd.SoftState.Lead)
		n.viewDue = true
		n.signalChanged()
		if rd.SoftState.RaftState != raft.StateLeader {
			// Our pending proposals may still commit under the new
			// leader; their callers time out if they do not.
			n.failWaiting(errRaftNotLead)
		}
	}
	if len(late) > 0 {
		n.tr.Send(n.group, late)
	}
	clear(late)
	n.lateBuf = late[:0]
	if err := n.applyEntries(committed); err != nil {
		return err
	}
	n.rn.Advance(rd)
	n.proposeReadds()
	return n.maybeSnapshot()
}

// applyEntries applies committed entries in order.
func (n *raftNode) applyEntries(ents []*pb.Entry) error {
	for _, e := range ents {
		if err := n.applyEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// splitReadyMessages separates a Ready's messages into those that may be
// sent before the Ready is persisted and those that must wait for it: the
// answers to appends and votes (MsgAppResp, MsgVoteResp, MsgPreVoteResp)
// promise that this node's disk holds the entries or the vote. This is the
// library's own rule: with its asynchronous storage writes it sends every
// other message at once and holds back exactly these. A leader counts
// itself towards a commit only once its own entries are persisted (the
// library's step on Advance), so a commit still means a majority fsynced.
// early keeps msgs' backing array (reordered in place); late is appended to
// lateBuf.
func splitReadyMessages(msgs []*pb.Message, lateBuf []*pb.Message) (early, late []*pb.Message) {
	early, late = msgs[:0], lateBuf
	for _, m := range msgs {
		switch m.GetType() {
		case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp:
			late = append(late, m)
		default:
			early = append(early, m)
		}
	}
	return early, late
}

// applyEntry applies one committed entry.
func (n *raftNode) applyEntry(e *pb.Entry) error {
	switch e.GetType() {
	case pb.EntryNormal:
		data := e.GetData()
		if len(data) >= raftPropHdr {
			n.fsm.Apply(e.GetIndex(), data[raftPropHdr:])
			if binary.LittleEndian.Uint64(data) == n.id {
				num := binary.LittleEndian.Uint64(data[8:])
				if ch, ok := n.waiting[num]; ok {
					delete(n.waiting, num)
					ch <- nil
				}
			}
		}
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		var cc pb.ConfChangeI
		if e.GetType() == pb.EntryConfChange {
			c := &pb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return err
			}
			cc = c
		} else {
			c := &pb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return err
			}
			cc = c
		}
		n.confState = n.rn.ApplyConfChange(cc)
		n.notePeerNames(cc)
		n.viewDue = true
		n.forceSnap = n.forceSnap || (n.snapOnAdd && addsNode(cc) && n.rn.Status().RaftState == raft.StateLeader)
		n.noteReadd(cc)
	}
	n.applied = e.GetIndex()
	if n.appTerm.Swap(e.GetTerm()) != e.GetTerm() {
		n.signalChanged()
	}
	return nil
}

// signalChanged tells the watcher, if any, that leadership may have
// changed.
func (n *raftNode) signalChanged() {
	if n.changed == nil {
		return
	}
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// maybeSnapshot compacts the log once snapN entries were applied since the
// last snapshot. Entries a slow follower still needs stay in memory a while
// (snapN/2 of them) so that it catches up from the log, not a snapshot.
func (n *raftNode) maybeSnapshot() error {
	force := n.forceSnap && n.applied > n.snapIndex
	n.forceSnap = false
	if n.applied-n.snapIndex < n.snapN && !force {
		return nil
	}
	data, err := n.fsm.Snapshot()
	if err != nil {
		return err
	}
	snap, err := n.store.CreateSnapshot(n.applied, n.confState, data)
	if err != nil {
		return err
	}
	if err := n.log.saveSnapshot(snap); err != nil {
		return err
	}
	n.snapIndex = n.applied
	keep := n.snapN / 2
	if force {
		keep = 0 // the new member must get this snapshot, not older entries
	}
	if n.applied > keep {
		if err := n.store.Compact(n.applied - keep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	return nil
}

// fail stops the node after an I/O error: a member that cannot persist
// must neither vote nor acknowledge.
func (n *raftNode) fail(err error) {
	n.err.Store(&err)
	n.failWaiting(err)
	n.log.close()
	n.leader.Store(0)
}

func (n *raftNode) failWaiting(err error) {
	for k, ch := range n.waiting {
		delete(n.waiting, k)
		ch <- err
	}
}

// publishView refreshes what readers outside run see.
func (n *raftNode) publishView() {
	st := n.rn.Status()
	v := &raftView{leader: st.Lead, term: st.GetTerm(), applied: n.applied, commit: st.GetCommit(),
		voters: slices.Sorted(maps.Keys(st.Config.Voters.IDs()))}
	n.viewForRaftz(v, st.RaftState, st.GetVote())
	for id, pr := range st.Progress {
		v.peers = append(v.peers, raftPeerView{id: id, match: pr.Match,
			current: pr.Match >= v.commit, active: n.contact[id]})
	}
	n.leader.Store(st.Lead)
	n.term.Store(v.term)
	n.status.Store(v)
}

// viewForRaftz fills the view's monitoring fields.
func (n *raftNode) viewForRaftz(v *raftView, state raft.StateType, vote uint64) {
	if v.leader != 0 {
		n.everLeader = true
	}
	switch {
	case state != raft.StateLeader:
		n.ledSince = time.Time{}
	case n.ledSince.IsZero():
		n.ledSince = time.Now()
	}
	v.state, v.vote, v.leaderSince, v.everLeader = state, vote, n.ledSince, n.everLeader
	v.firstIndex, _ = n.store.FirstIndex()
	v.lastIndex, _ = n.store.LastIndex()
	v.lastTerm, _ = n.store.Term(v.lastIndex)
	v.walBytes, v.lastWrite = n.log.bytes(), n.log.lastWrite
	v.queued = len(n.propc)
	v.leaderSeen = n.contact[v.leader]
}

// Step hands a message from a peer to the node; it never blocks (a full
// queue drops the message, which Raft recovers from).
func (n *raftNode) Step(m *pb.Message) {
	select {
	case n.recvc <- m:
	default:
	}
}

// Propose appends data to the group's log and returns a channel that gets
// nil once the entry is committed and applied here, or why it will not be.
// Only the leader accepts proposals.
func (n *raftNode) Propose(data []byte) <-chan error {
	ch := make(chan error, 1)
	select {
	case n.propc <- raftProposal{data: data, done: ch}:
	case <-n.done:
		ch <- n.stoppedErr()
	}
	return ch
}

// ProposeWait proposes data and waits up to timeout for it to be applied.
func (n *raftNode) ProposeWait(data []byte, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-n.Propose(data):
		return err
	case <-t.C:
		return fmt.Errorf("raft proposal timed out after %v", timeout)
	}
}

func (n *raftNode) stoppedErr() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return errRaftStopped
}

// do runs f on the node's goroutine and waits for it.
func (n *raftNode) do(f func()) error {
	done := make(chan struct{})
	select {
	case n.ctlc <- func() { f(); close(done) }:
	case <-n.done:
		return n.stoppedErr()
	}
	select {
	case <-done:
		return nil
	case <-n.done:
		return n.stoppedErr()
	}
}

// Campaign makes the node start an election.
func (n *raftNode) Campaign() error {
	return n.do(func() { n.rn.Campaign() })
}

// TransferLeadership asks the leader to hand over to id (0: the most
// up-to-date follower).
func (n *raftNode) TransferLeadership(to uint64) error {
	var err error
	n.do(func() {
		st := n.rn.Status()
		if st.RaftState != raft.StateLeader {
			err = errRaftNotLead
			return
		}
		if to == 0 {
			var best uint64
			for id, pr := range st.Progress {
				if id != n.id && (to == 0 || pr.Match > best) {
					to, best = id, pr.Match
				}
			}
		}
		if to == 0 {
			err = errors.New("no replacement peer connected")
			return
		}
		n.rn.TransferLeader(to)
	})
	return err
}

// addsNode tells whether a conf change adds a voter.
func addsNode(cc pb.ConfChangeI) bool {
	for _, ch := range cc.AsV2().GetChanges() {
		if ch.GetType() == pb.ConfChangeAddNode {
			return true
		}
	}
	return false
}

// notePeerNames remembers the names that conf changes carry as context.
func (n *raftNode) notePeerNames(cc pb.ConfChangeI) {
	v2 := cc.AsV2()
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	for _, ch := range v2.GetChanges() {
		if ch.GetType() == pb.ConfChangeAddNode && len(v2.GetContext()) > 0 {
			n.names[ch.GetNodeId()] = string(v2.GetContext())
		}
	}
}

// PeerName is the name a member joined with ("" if unknown).
func (n *raftNode) PeerName(id uint64) string {
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	return n.names[id]
}

// SetPeerName records a member's name learned elsewhere (the routes).
func (n *raftNode) SetPeerName(id uint64, name string) {
	n.namesMu.Lock()
	n.names[id] = name
	n.namesMu.Unlock()
}

// Replayed tells whether the entry at index was already committed when the
// node started (re-applied from the log, not new).
func (n *raftNode) Replayed(index uint64) bool { return index <= n.replayTo }

// BootstrapSelf makes a node started without peers the first member of a
// new group and campaigns. It fails if the node has any log: a member that
// was added or has state must never start a group of its own.
func (n *raftNode) BootstrapSelf(name string) error {
	var err error
	if derr := n.do(func() {
		if err = n.rn.Bootstrap([]raft.Peer{{ID: n.id, Context: []byte(name)}}); err == nil {
			err = n.rn.Campaign()
		}
	}); derr != nil {
		return derr
	}
	return err
}

// ProposeAddPeer proposes adding member id (named name) as a voter. Only
// the leader may; the library takes one membership change at a time.
func (n *raftNode) ProposeAddPeer(id uint64, name string) error {
	var err error
	if derr := n.do(func() {
		err = n.rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(),
			NodeId: proto.Uint64(id), Context: []byte(name)})
	}); derr != nil {
		return derr
	}
	return err
}

// ProposeRemovePeer proposes removing member id. Only the leader may; a
// change proposed while another is pending is dropped by the library, so
// callers check the result in the voters.
func (n *raftNode) ProposeRemovePeer(id uint64) error {
	var err error
	if derr := n.do(func() {
		err = n.rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id)})
	}); derr != nil {
		return derr
	}
	return err
}

// Leader returns the current leader's id (0 if none known).
func (n *raftNode) Leader() uint64 { return n.leader.Load() }

// IsLeader tells whether this node leads its group.
func (n *raftNode) IsLeader() bool { return n.leader.Load() == n.id }

// LeaderSince is when the current leader became known here.
func (n *raftNode) LeaderSince() time.Time { return time.Unix(0, n.leaderSince.Load()) }

// LeaderReady tells whether this node leads its group and has applied an
// entry of its own term: everything committed before it became leader is
// then applied here, so its state machine is current.
func (n *raftNode) LeaderReady() bool {
	return n.IsLeader() && n.appTerm.Load() == n.term.Load()
}

// View returns the node's latest state for monitoring and info answers.
func (n *raftNode) View() *raftView { return n.status.Load() }

// stopped tells whether the node's goroutine ended (stopped or failed).
func (n *raftNode) stopped() bool {
	select {
	case <-n.done:
		return true
	default:
		return n.err.Load() != nil
	}
}

// Stop stops the node and waits for its goroutine; the log stays on disk.
func (n *raftNode) Stop() {
	n.stopOnce.Do(func() { close(n.quit) })
	<-n.done
}

// raftDiscardLogger drops the library's log lines.
type raftDiscardLogger struct{}

func (raftDiscardLogger) Debug(...any)            {}
func (raftDiscardLogger) Debugf(string, ...any)   {}
func (raftDiscardLogger) Error(...any)            {}
func (raftDiscardLogger) Errorf(string, ...any)   {}
func (raftDiscardLogger) Info(...any)             {}
func (raftDiscardLogger) Infof(string, ...any)    {}
func (raftDiscardLogger) Warning(...any)          {}
func (raftDiscardLogger) Warningf(string, ...any) {}
func (raftDiscardLogger) Fatal(v ...any)          { panic(fmt.Sprint(v...)) }
func (raftDiscardLogger) Fatalf(f string, v ...any) {
	panic(fmt.Sprintf(f, v...))
}
func (raftDiscardLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (raftDiscardLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
