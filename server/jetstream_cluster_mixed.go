package server

import "slices"

// Mixed clusters: routes may join our servers to servers of the reference
// implementation. Core traffic flows as between our own servers, but the
// two implementations' clustered JetStream cannot cooperate: ours runs
// etcd Raft on $NRG.F.<group>.<peer> (raft_transport.go), the reference its
// own Raft protocol on other $NRG subjects, so neither can be a member of
// the other's meta group, nor host the other's streams.
//
// What a mixed cluster does instead:
//
//   - Our JetStream servers announce jsRaftProtocol in the js_raft field of
//     their route INFO (the reference ignores fields it does not know), and
//     leave its jetstream field false: the reference takes every server
//     whose route INFO says jetstream for a member of its meta group, which
//     then never elects a leader with one of ours among them (observed on
//     v2.15.2: two reference servers and one of ours announcing jetstream
//     stayed leaderless; with it false they elect). Only js_raft makes a
//     remote a peer of our meta group: on receipt the remote's INFO is
//     rewritten so that its JetStream field says so (classifyJetStream),
//     and jsCluster.routePeers counts those; a remote whose INFO says
//     jetstream is a JetStream server of another implementation (JSOther),
//     never counted, so our meta group forms, elects and places streams
//     among our servers only, and the reference's among its own.
//   - The reference serves its clients' $JS.API requests on the server they
//     are connected to (mapped into its system account) and does not route
//     interest in them, while our servers subscribe $JS.API.> in every
//     account with the interest routed. A request from a client of a
//     reference JetStream server therefore reaches both its own server and
//     ours; ours stay silent on requests arriving over a route from such a
//     server, so that each request is answered once: by the reference for
//     its clients, by our meta group for ours. A reference server without
//     JetStream neither answers nor announces JetStream, so our servers
//     serve its clients' requests too.
//   - Each such server is named once in a warning, the first time a route
//     to it is seen, not on every tick.

// jsRaftProtocol is the value of js_raft in our route INFO: the Raft
// protocol our JetStream servers speak.
const jsRaftProtocol = "etcd-raft-v3"

// jsMixedWarnText is the warning logged for a JetStream server of another
// implementation.
const jsMixedWarnText = "JetStream cluster with servers of another implementation is not supported yet: " +
	"JetStream server '%s' is not a member of this server's meta group, and its clients' JetStream API requests are left to it"

// classifyJetStream rewrites a received route INFO's JetStream to mean a
// JetStream server of this implementation (js_raft set), which every user
// of a remote's INFO can then trust as a meta peer, and sets JSOther for a
// JetStream server of another implementation (jetstream without js_raft).
func (info *routeInfo) classifyJetStream() {
	info.JSOther = info.JetStream && info.JSRaft == ""
	info.JetStream = info.JSRaft == jsRaftProtocol
}

// fromOtherJSImplementation tells whether an API request arrived over a
// route from a JetStream server of another implementation, which answers
// it itself.
func fromOtherJSImplementation(c *client) bool {
	return c != nil && c.kind == ROUTER && c.route != nil && c.route.remote.JSOther
}

// jsMixedWarned is the names of the servers of another implementation
// already warned about; owned by jsCluster.watch.
type jsMixedWarned map[string]bool

// warnNew logs jsMixedWarnText once for each JetStream server of another
// implementation the routes connect that has not been warned about.
func (w *jsMixedWarned) warnNew(s *Server) {
	for _, name := range otherJSServers(s) {
		if *w == nil {
			*w = make(jsMixedWarned)
		}
		if !(*w)[name] {
			(*w)[name] = true
			s.Warnf(jsMixedWarnText, name)
		}
	}
}

// otherJSServers are the names of the JetStream servers of another
// implementation connected by routes, sorted.
func otherJSServers(s *Server) []string {
	cs := s.cluster.Load()
	if cs == nil {
		return nil
	}
	var out []string
	cs.mu.Lock()
	for _, r := range cs.remotes {
		if r.info.JSOther && !slices.Contains(out, r.name) {
			out = append(out, r.name)
		}
	}
	cs.mu.Unlock()
	slices.Sort(out)
	return out
}
