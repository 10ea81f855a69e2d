package server

import (
	"encoding/json"
	"time"
)

// JetStream advisories on $JS.EVENT.ADVISORY.>, in the reference's JSON
// (observed on v2.15.2). Each is encoded only when someone listens on its
// subject in the account it goes to: the account of the stream or of the
// request, or the system account for server-wide events.

const (
	jsAdvisoryPrefix      = "io.nats.jetstream.advisory.v1."
	jsAuditSubject        = "$JS.EVENT.ADVISORY.API"
	jsAPILimitSubject     = "$JS.EVENT.ADVISORY.API.LIMIT_REACHED"
	jsStreamCreatedPrefix = "$JS.EVENT.ADVISORY.STREAM.CREATED."
	jsStreamUpdatedPrefix = "$JS.EVENT.ADVISORY.STREAM.UPDATED."
	jsStreamDeletedPrefix = "$JS.EVENT.ADVISORY.STREAM.DELETED."
	jsSnapshotCreatePref  = "$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE."
	jsSnapshotDonePrefix  = "$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE."
	jsRestoreCreatePrefix = "$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE."
	jsRestoreDonePrefix   = "$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE."

	// Stream actions, as the advisory's "action" field spells them.
	jsActionCreate = "create"
	jsActionModify = "modify"
	jsActionDelete = "delete"
)

// JSAPIAudit is the api_audit advisory sent for every API reply.
type JSAPIAudit struct {
	TypedEvent
	Server   string            `json:"server"`
	Client   *JSAdvisoryClient `json:"client,omitempty"`
	Subject  string            `json:"subject"`
	Request  string            `json:"request,omitempty"`
	Response string            `json:"response"`
	Domain   string            `json:"domain,omitempty"`
}

// JSAdvisoryClient describes the requesting connection in advisories, with
// the reference's fields in its order.
type JSAdvisoryClient struct {
	Start      *time.Time    `json:"start,omitempty"`
	Host       string        `json:"host,omitempty"`
	ID         uint64        `json:"id,omitempty"`
	Account    string        `json:"acc,omitempty"`
	User       string        `json:"user,omitempty"`
	Name       string        `json:"name,omitempty"`
	Lang       string        `json:"lang,omitempty"`
	Version    string        `json:"ver,omitempty"`
	RTT        time.Duration `json:"rtt,omitempty"`
	Server     string        `json:"server,omitempty"`
	Kind       string        `json:"kind,omitempty"`
	ClientType string        `json:"client_type,omitempty"`
}

// JSStreamActionAdvisory is the stream_action advisory (created, updated,
// deleted).
type JSStreamActionAdvisory struct {
	TypedEvent
	Stream string `json:"stream"`
	Action string `json:"action"`
	Domain string `json:"domain,omitempty"`
}

// JSAPILimitReachedAdvisory is published in the system account when an API
// queue overflows and its requests are dropped.
type JSAPILimitReachedAdvisory struct {
	TypedEvent
	Server  string `json:"server"`
	Domain  string `json:"domain,omitempty"`
	Dropped int64  `json:"dropped"`
}

// JSSnapshotCreateAdvisory is sent when a snapshot starts.
type JSSnapshotCreateAdvisory struct {
	TypedEvent
	Stream string            `json:"stream"`
	State  StreamState       `json:"state"`
	Client *JSAdvisoryClient `json:"client"`
	Domain string            `json:"domain,omitempty"`
}

// JSSnapshotCompleteAdvisory is sent when a snapshot ends.
type JSSnapshotCompleteAdvisory struct {
	TypedEvent
	Stream string            `json:"stream"`
	Start  time.Time         `json:"start"`
	End    time.Time         `json:"end"`
	Client *JSAdvisoryClient `json:"client"`
	Domain string            `json:"domain,omitempty"`
	Error  string            `json:"error,omitempty"`
}

// JSRestoreCreateAdvisory is sent when a restore starts.
type JSRestoreCreateAdvisory struct {
	TypedEvent
	Stream string            `json:"stream"`
	Client *JSAdvisoryClient `json:"client"`
	Domain string            `json:"domain,omitempty"`
}

// JSRestoreCompleteAdvisory is sent when a restore ends.
type JSRestoreCompleteAdvisory struct {
	TypedEvent
	Stream string            `json:"stream"`
	Start  time.Time         `json:"start"`
	End    time.Time         `json:"end"`
	Bytes  int64             `json:"bytes"`
	Client *JSAdvisoryClient `json:"client"`
	Domain string            `json:"domain,omitempty"`
}

// advisoryClient describes c (nil: none).
func (s *Server) advisoryClient(c *client) *JSAdvisoryClient {
	if c == nil {
		return nil
	}
	ci := c.clientInfo(false)
	c.mu.Lock()
	rtt := c.lastRTT
	c.mu.Unlock()
	kind := ci.Kind
	if c.kind == SYSTEM {
		kind = "System"
	}
	return &JSAdvisoryClient{Start: ci.Start, Host: ci.Host, ID: ci.ID, Account: ci.Account, User: ci.User,
		Name: ci.Name, Lang: ci.Lang, Version: ci.Version, RTT: rtt, Server: s.Name(), Kind: kind,
		ClientType: ci.ClientType}
}

// accountHasInterest reports whether anyone listens on subject in acc.
func accountHasInterest(acc *Account, subject string) bool {
	r := acc.sl.Match(subject)
	return len(r.psubs) > 0 || len(r.qsubs) > 0
}

// publishAdvisory encodes v and publishes it in acc if anyone listens.
func (s *Server) publishAdvisory(acc *Account, subject string, v any) {
	if acc == nil || !accountHasInterest(acc, subject) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.PublishInternal(acc, subject, "", nil, b)
}

func (js *jetStream) domain() string { return js.srv.getOpts().JetStreamDomain }

// auditAPI publishes the api_audit advisory of a reply in the requester's
// account. The subject is the request's as served ($JS.API.…, also for
// requests made through a domain).
func (ja *jsAccount) auditAPI(r *jsAPIRequest, response []byte) {
	s := ja.js.srv
	if !accountHasInterest(ja.acc, jsAuditSubject) {
		return
	}
	s.publishAdvisory(ja.acc, jsAuditSubject, &JSAPIAudit{
		TypedEvent: newEvent(jsAdvisoryPrefix + "api_audit"),
		Server:     s.Name(), Client: s.advisoryClient(r.client), Subject: r.subject,
		Request: string(r.msg), Response: string(response), Domain: ja.js.domain(),
	})
}

// adviseStream publishes a stream_action advisory (create, modify, delete).
func (ja *jsAccount) adviseStream(stream, action string) {
	if st := ja.lookupStream(stream); st != nil && action != jsActionCreate && !st.advisesHere() {
		return // a replicated stream's leader advises (jetstream_cluster_advisory.go)
	}
	prefix := jsStreamCreatedPrefix
	switch action {
	case jsActionModify:
		prefix = jsStreamUpdatedPrefix
	case jsActionDelete:
		prefix = jsStreamDeletedPrefix
	}
	ja.js.srv.publishAdvisory(ja.acc, prefix+stream, &JSStreamActionAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "stream_action"),
		Stream:     stream, Action: action, Domain: ja.js.domain(),
	})
}

// adviseAPILimitReached tells the system account that dropped requests were
// thrown away because an API queue was full.
func (js *jetStream) adviseAPILimitReached(dropped int) {
	s := js.srv
	s.publishAdvisory(s.SystemAccount(), jsAPILimitSubject, &JSAPILimitReachedAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "api_limit_reached"),
		Server:     s.Name(), Domain: js.domain(), Dropped: int64(dropped),
	})
}

// adviseSnapshotCreate publishes snapshot_create for a snapshot of stream
// starting with state, requested by c (may be nil).
func (ja *jsAccount) adviseSnapshotCreate(stream string, state StreamState, c *client) {
	s := ja.js.srv
	if !accountHasInterest(ja.acc, jsSnapshotCreatePref+stream) {
		return
	}
	s.publishAdvisory(ja.acc, jsSnapshotCreatePref+stream, &JSSnapshotCreateAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "snapshot_create"),
		Stream:     stream, State: state, Client: s.advisoryClient(c), Domain: ja.js.domain(),
	})
}

// adviseSnapshotComplete publishes snapshot_complete; err is the failure,
// if any.
func (ja *jsAccount) adviseSnapshotComplete(stream string, start, end time.Time, c *client, err error) {
	s := ja.js.srv
	if !accountHasInterest(ja.acc, jsSnapshotDonePrefix+stream) {
		return
	}
	ev := &JSSnapshotCompleteAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "snapshot_complete"),
		Stream:     stream, Start: start.UTC(), End: end.UTC(), Client: s.advisoryClient(c), Domain: ja.js.domain(),
	}
	if err != nil {
		ev.Error = err.Error()
	}
	s.publishAdvisory(ja.acc, jsSnapshotDonePrefix+stream, ev)
}

// adviseRestoreCreate publishes restore_create for a restore of stream.
func (ja *jsAccount) adviseRestoreCreate(stream string, c *client) {
	s := ja.js.srv
	if !accountHasInterest(ja.acc, jsRestoreCreatePrefix+stream) {
		return
	}
	s.publishAdvisory(ja.acc, jsRestoreCreatePrefix+stream, &JSRestoreCreateAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "restore_create"),
		Stream:     stream, Client: s.advisoryClient(c), Domain: ja.js.domain(),
	})
}

// adviseRestoreComplete publishes restore_complete with the bytes received.
func (ja *jsAccount) adviseRestoreComplete(stream string, start, end time.Time, bytes int64, c *client) {
	s := ja.js.srv
	if !accountHasInterest(ja.acc, jsRestoreDonePrefix+stream) {
		return
	}
	s.publishAdvisory(ja.acc, jsRestoreDonePrefix+stream, &JSRestoreCompleteAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "restore_complete"),
		Stream:     stream, Start: start.UTC(), End: end.UTC(), Bytes: bytes, Client: s.advisoryClient(c),
		Domain: ja.js.domain(),
	})
}
