package server

// A replicated stream's subjects are subscribed on its leader only, as the
// reference does: publishes reach the replica that takes them, and while
// the group has no leader (no quorum) nobody is interested, so a request
// gets the server's no-responders answer (503) at once instead of silence.
// The subscriptions follow the leadership with the leadership watch
// (jsCluster.watchStreamLeaders), which takes the account's createMu
// (TryLock: an API worker changing the stream meanwhile is waited for at
// the next tick) because stream.subscribe runs under it.

// takesPublishes tells whether this replica should hold the stream's
// subscriptions: it leads, is current, and is not repairing its store.
func (st *stream) takesPublishes() bool {
	if !st.replicated {
		return true
	}
	r := st.repl.Load()
	return r != nil && r.node.LeaderReady() && !r.repairing()
}

// syncInterest subscribes or unsubscribes the stream's subjects when the
// replica's leadership changed. Runs on the leadership watch.
func (r *streamRepl) syncInterest() {
	st := r.st
	if st.takesPublishes() == r.subscribed.Load() {
		return
	}
	if !st.ja.createMu.TryLock() {
		return
	}
	defer st.ja.createMu.Unlock()
	if err := st.subscribe(); err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': subscribing its subjects: %v", st.ja.acc.Name, st.name, err)
	}
}
