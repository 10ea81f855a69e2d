package server

import (
	"encoding/json"
	"slices"
	"time"
)

// CONSUMER.PAUSE, CONSUMER.UNPIN and CONSUMER.RESET. PAUSE and UNPIN are
// ordinary API requests; RESET is answered as the reference's consumer
// leader answers it: nothing for a consumer that does not exist, no
// audit advisory, and the Nats-Stream-Identity header when asked for.

// JSApiConsumerPauseRequest is CONSUMER.PAUSE's body; a zero or absent
// pause_until resumes.
type JSApiConsumerPauseRequest struct {
	PauseUntil time.Time `json:"pause_until"`
}

// JSApiConsumerPauseResponse answers CONSUMER.PAUSE.
type JSApiConsumerPauseResponse struct {
	ApiResponse
	Paused         bool          `json:"paused"`
	PauseUntil     time.Time     `json:"pause_until"`
	PauseRemaining time.Duration `json:"pause_remaining,omitempty"`
}

// JSApiConsumerUnpinRequest is CONSUMER.UNPIN's body.
type JSApiConsumerUnpinRequest struct {
	Group string `json:"group"`
}

// JSApiConsumerResetRequest is CONSUMER.RESET's optional body.
type JSApiConsumerResetRequest struct {
	Seq uint64 `json:"seq"`
}

// JSApiConsumerResetResponse answers CONSUMER.RESET.
type JSApiConsumerResetResponse struct {
	ApiResponse
	*ConsumerInfo
	ResetSeq uint64 `json:"reset_seq"`
}

// Catalogue identifiers of this file.
const (
	jscInvalidPriorityGroup = "JSConsumerInvalidPriorityGroupErr"
	jscInvalidReset         = "JSConsumerInvalidResetErr"
	jsStreamIdentityHeader  = "Nats-Stream-Identity"
)

// consumerAdminErrorIDs lists them for the catalogue test.
var consumerAdminErrorIDs = []string{jscInvalidPriorityGroup, jscInvalidReset}

// pauseHandler answers CONSUMER.PAUSE through the API layer (counted and
// audited); it checks the required API level itself, since even that
// error carries the response's paused and pause_until.
var pauseHandler = jsAPIHandler{respType: "consumer_pause_response"}

// apiConsumerPause serves $JS.API.CONSUMER.PAUSE.<s>.<c>.
func (ja *jsAccount) apiConsumerPause(r *jsAPIRequest, args []string) any {
	if len(args) != 2 {
		return nil
	}
	ja.respond(r, pauseHandler, ja.pause(r, args[0], args[1]))
	return nil
}

// pause applies a PAUSE request.
func (ja *jsAccount) pause(r *jsAPIRequest, stream, name string) *JSApiConsumerPauseResponse {
	if apiLevelTooHigh(r.hdr) {
		return &JSApiConsumerPauseResponse{ApiResponse: ApiResponse{Error: jsError(jsRequiredAPILevel)}}
	}
	var req JSApiConsumerPauseRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return &JSApiConsumerPauseResponse{ApiResponse: ApiResponse{Error: e}}
		}
	}
	ja.createMu.Lock() // a create or update in flight would undo the pause
	defer ja.createMu.Unlock()
	c, e := ja.lookupConsumer(stream, name)
	if e != nil {
		return &JSApiConsumerPauseResponse{ApiResponse: ApiResponse{Error: e}}
	}
	now := time.Now()
	until := req.PauseUntil.UTC() // stored in UTC, as the reference does
	c.mu.Lock()
	changed := c.setPause(&until, now)
	resp := &JSApiConsumerPauseResponse{PauseUntil: req.PauseUntil.UTC()}
	if c.paused(now) {
		resp.Paused, resp.PauseRemaining = true, req.PauseUntil.Sub(now)
	}
	c.mu.Unlock()
	if changed {
		if err := c.saveMeta(); err != nil {
			resp.Error = jsError(jscStoreFailed, err)
		}
	}
	c.flushAdminEvents()
	c.rearm()
	c.schedule()
	return resp
}

// apiConsumerUnpin serves $JS.API.CONSUMER.UNPIN.<s>.<c>: the consumer's
// pin is dropped (whether there was one or not, with an UNPINNED
// advisory either way, as the reference does).
func (ja *jsAccount) apiConsumerUnpin(r *jsAPIRequest, args []string) any {
	if len(args) != 2 {
		return nil
	}
	var req JSApiConsumerUnpinRequest
	if err := json.Unmarshal(r.msg, &req); err != nil {
		return errResponse(jsError(jsInvalidJSON, err))
	}
	if req.Group == "" {
		return errResponse(jsError(jsInvalidJSON, "consumer group not specified"))
	}
	if !validGroupName(req.Group) {
		return errResponse(jsError(jsConsumerInvalidGroupName))
	}
	c, e := ja.lookupConsumer(args[0], args[1])
	if e != nil {
		return errResponse(e)
	}
	c.mu.Lock()
	if !slices.Contains(c.cfg.PriorityGroups, req.Group) {
		c.mu.Unlock()
		return errResponse(jsError(jscInvalidPriorityGroup))
	}
	c.unpin(req.Group, unpinReasonAdmin)
	c.mu.Unlock()
	c.flushAdminEvents()
	c.schedule()
	return &ApiResponse{}
}

// apiConsumerReset serves $JS.API.CONSUMER.RESET.<s>.<c> and answers it
// itself (see above).
func (ja *jsAccount) apiConsumerReset(r *jsAPIRequest, args []string) any {
	if len(args) != 2 {
		return nil
	}
	st := ja.lookupStream(args[0])
	if st == nil {
		return nil
	}
	c := st.lookupConsumer(args[1])
	if c == nil {
		return nil
	}
	resp, hdr := c.reset(r)
	data, err := json.Marshal(resp)
	if err != nil {
		return nil
	}
	ja.js.srv.PublishInternal(ja.acc, r.reply, "", hdr, data)
	return nil
}

// reset applies a RESET request to c and returns the answer and its
// header.
func (c *consumer) reset(r *jsAPIRequest) (*JSApiConsumerResetResponse, []byte) {
	resp := &JSApiConsumerResetResponse{ApiResponse: ApiResponse{Type: jsAPITypePrefix + "consumer_reset_response"}}
	var req JSApiConsumerResetRequest
	if apiLevelTooHigh(r.hdr) {
		resp.Error = jsError(jsRequiredAPILevel)
		return resp, nil
	}
	if len(r.msg) > 0 {
		if err := json.Unmarshal(r.msg, &req); err != nil {
			resp.Error = jsError(jsInvalidJSON, err)
			return resp, nil
		}
	}
	c.mu.Lock()
	seq, bad := c.resetTarget(req.Seq)
	if bad != "" {
		c.mu.Unlock()
		resp.Error = jsError(jscInvalidReset, bad)
		return resp, nil
	}
	c.resetTo(seq)
	c.mu.Unlock()
	if err := c.flushState(); err != nil {
		resp.Error = jsError(jscStoreFailed, err)
		return resp, nil
	}
	c.schedule()
	resp.ConsumerInfo, resp.ResetSeq = c.info(true), seq
	var hdr []byte
	if _, ok := headerValue(r.hdr, jsStreamIdentityHeader); ok {
		hdr = appendHeader([]byte("NATS/1.0\r\n"), jsStreamIdentityHeader, streamIdentity(c.st.created))
		hdr = append(hdr, "\r\n"...)
	}
	return resp, hdr
}
