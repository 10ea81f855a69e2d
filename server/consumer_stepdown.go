package server

import (
	"encoding/json"
	"strings"
)

// consumerLeaderStepdown answers CONSUMER.LEADER.STEPDOWN.<stream>.<consumer>.
//
// A consumer of a replicated stream runs on the stream's leader and its
// state is replicated through the stream's group (stream_replicate.go), so
// the consumer's leader is the stream's: stepping the consumer down hands
// the stream's leadership over, and the consumer's `cluster.leader` moves
// to another replica as with the reference (whose consumers have groups
// of their own; the stream's leader moves too here). As the reference
// (observed on v2.15.2): a body that is not JSON is ignored, a consumer of
// an R1 stream answers success and stays where it is, an unknown stream
// or consumer is 10059 or 10014.
func (c *jsCluster) consumerLeaderStepdown(ja *jsAccount, r *jsAPIRequest, args string) {
	h := jsAPIHandler{respType: "consumer_leader_stepdown_response"}
	stream, name, ok := strings.Cut(args, ".")
	if !ok || name == "" || strings.Contains(name, ".") {
		return // no handler serves the subject
	}
	st := ja.lookupStream(stream)
	if st == nil {
		if c.fsm.lookup(ja.acc.Name, stream) == nil {
			c.metaOnly(ja, r, h, func(*jsAccount, *jsAPIRequest) any { return errResponse(jsError(jsStreamNotFound)) })
		}
		return
	}
	if !st.answersHere() {
		return
	}
	if st.lookupConsumer(name) == nil {
		ja.respond(r, h, errResponse(jsError(jscNotFound)))
		return
	}
	if !st.replicated {
		ja.respond(r, h, &JSApiSuccessResponse{Success: true})
		return
	}
	var req JSApiLeaderStepDownRequest
	_ = json.Unmarshal(r.msg, &req) // the reference ignores a body it cannot read
	if e := c.handOverStream(st, req.Placement); e != nil {
		ja.respond(r, h, errResponse(e))
		return
	}
	ja.respond(r, h, &JSApiSuccessResponse{Success: true})
}
