package server

import (
	"reflect"
	"sort"
	"time"
)

// StreamConfigRequest is the body of STREAM.CREATE and STREAM.UPDATE: the
// config plus the fields of features not built yet, so that a request
// using one is refused clearly rather than as an unknown field.
type StreamConfigRequest struct {
	StreamConfig
	Pedantic      bool   `json:"pedantic,omitempty"`
	TemplateOwner string `json:"template_owner,omitempty"`
}

// unsupported names the first feature the request uses that this server
// does not have yet.
func (r *StreamConfigRequest) unsupported() string {
	return ""
}

// StreamInfo is a stream's config and state.
type StreamInfo struct {
	Config  StreamConfig        `json:"config"`
	Created time.Time           `json:"created"`
	State   StreamState         `json:"state"`
	Cluster *ClusterInfo        `json:"cluster,omitempty"`
	Mirror  *StreamSourceInfo   `json:"mirror,omitempty"`
	Sources []*StreamSourceInfo `json:"sources,omitempty"`
	// Alternates (clustered mode) are the stream and its mirrors, where a
	// client may read the same messages.
	Alternates []StreamAlternate `json:"alternates,omitempty"`
	TS         time.Time         `json:"ts"`
}

// StreamAlternate names a stream that holds a copy of another's messages.
type StreamAlternate struct {
	Name    string `json:"name"`
	Domain  string `json:"domain,omitempty"`
	Cluster string `json:"cluster"`
}

// ClusterInfo names the stream's cluster and leader (standalone: only the
// leader, this server).
type ClusterInfo struct {
	Name        string     `json:"name,omitempty"`
	RaftGroup   string     `json:"raft_group,omitempty"`
	Leader      string     `json:"leader,omitempty"`
	LeaderSince *time.Time `json:"leader_since,omitempty"`
	// SystemAccount and TrafficAccount say where a group's Raft traffic
	// goes: the system account's, as the reference's default.
	SystemAccount  bool        `json:"system_account,omitempty"`
	TrafficAccount string      `json:"traffic_account,omitempty"`
	Replicas       []*PeerInfo `json:"replicas,omitempty"`
}

// JSApiStreamCreateResponse answers STREAM.CREATE and STREAM.UPDATE.
type JSApiStreamCreateResponse struct {
	ApiResponse
	*StreamInfo
	DidCreate bool `json:"did_create,omitempty"`
}

// JSApiStreamInfoResponse answers STREAM.INFO; it is paged (over subjects)
// even on errors, as with the reference.
type JSApiStreamInfoResponse struct {
	ApiResponse
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	*StreamInfo
}

// info is the stream's StreamInfo. withMeta adds the server's version and
// API level to the metadata (create, update, info; not list), withCluster
// the leader (info only), as the reference answers.
func (st *stream) info(withMeta, withCluster bool) *StreamInfo {
	cfg := st.cfg()
	cfg.Metadata = metadataForReply(cfg.Metadata, withMeta)
	cfg.Created = nil
	si := &StreamInfo{Config: cfg, Created: st.created, TS: time.Now().UTC()}
	st.store.FastState(&si.State)
	si.State.Consumers = st.numConsumers()
	if si.State.Msgs == 0 && si.State.LastSeq == 0 {
		si.State.FirstSeq = 0 // a stream never written to shows 0, as the reference
	}
	if withCluster {
		si.Cluster = &ClusterInfo{Leader: st.ja.js.srv.Name()}
	}
	si.Mirror, si.Sources = st.sourcingInfo()
	return si
}

// decodeStreamConfig reads a create/update body and checks it; old is the
// current config on update (nil on create). A body that is not JSON is
// taken as an empty config, as the reference does; lim carries the
// server's strictness and caps.
func decodeStreamConfig(body []byte, name string, old *StreamConfig, lim streamConfigLimits) (*StreamConfig, *ApiError) {
	var req StreamConfigRequest
	if hasJSONBody(body) {
		if e := decodeJSON(body, &req, lim.strict); e != nil {
			return nil, e
		}
	}
	if req.Name != name {
		return nil, jsError(jsStreamMismatch)
	}
	if f := req.unsupported(); f != "" {
		return nil, jsError(jsStreamInvalidConfig, f+" is not supported yet")
	}
	cfg := req.StreamConfig
	if old == nil && cfg.Sealed {
		// Refused before any other check, as with the reference.
		return nil, jsError(jsStreamInvalidConfig, "stream configuration for create can not be sealed")
	}
	cfg.Created = nil // stored by the server, not taken from requests
	lim.defaults(&cfg)
	setStreamDefaults(&cfg)
	if e := applyBatchScheduleDefaults(&cfg, req.Pedantic); e != nil {
		return nil, e
	}
	if cfg.Sealed {
		// A sealed stream never changes again, as with the reference.
		cfg.MaxAge, cfg.Discard, cfg.DenyDelete, cfg.DenyPurge, cfg.AllowRollup = 0, DiscardNew, true, true, false
	}
	// The reference validates, then applies the defaults delete markers
	// imply, then checks what an update may change, then validates again.
	if e := checkStreamConfig(&cfg); e != nil {
		return nil, e
	}
	if e := applyMarkerDefaults(&cfg, req.Pedantic); e != nil {
		return nil, e
	}
	if old != nil {
		if cfg.Replicas > 1 && !lim.clustered {
			// What the reference answers a standalone server's update to
			// R>1, before its rules on what may change.
			return nil, jsError(jsStreamReplicasNotSupp)
		}
		if e := checkStreamUpdate(*old, &cfg); e != nil {
			return nil, e
		}
		if e := checkStreamConfig(&cfg); e != nil {
			return nil, e
		}
		cfg.Created = old.Created
	}
	if e := lim.check(&cfg); e != nil {
		return nil, e
	}
	return &cfg, nil
}

func (ja *jsAccount) apiStreamCreate(r *jsAPIRequest, args []string) any {
	cfg, e := decodeStreamConfig(r.msg, args[0], nil, ja.js.configLimits())
	if e != nil {
		return errResponse(e)
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if st := ja.lookupStream(cfg.Name); st != nil {
		old := st.cfg()
		old.Created = nil
		if !reflect.DeepEqual(old, *cfg) {
			return errResponse(jsError(jsStreamNameExist))
		}
		return &JSApiStreamCreateResponse{StreamInfo: st.info(true, false), DidCreate: true}
	}
	if ja.subjectsTaken(cfg.Subjects, "") {
		return errResponse(jsError(jsStreamSubjectOverlap))
	}
	if e := ja.checkSourcingOrigins(cfg, true); e != nil {
		return errResponse(e)
	}
	if e := ja.checkReservation(cfg); e != nil {
		return errResponse(e)
	}
	now := time.Now().UTC()
	cfg.Created = &now
	st, err := ja.addStream(cfg, now)
	if err != nil {
		return errResponse(jsError(jsStreamCreate, err))
	}
	ja.adviseStream(cfg.Name, jsActionCreate)
	return &JSApiStreamCreateResponse{StreamInfo: st.createdInfo(), DidCreate: true}
}

func (ja *jsAccount) apiStreamUpdate(r *jsAPIRequest, args []string) any {
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	st := ja.lookupStream(args[0])
	if st == nil {
		return errResponse(jsError(jsStreamNotFound))
	}
	old := st.cfg()
	cfg, e := decodeStreamConfig(r.msg, args[0], &old, ja.js.configLimits())
	if e != nil {
		return errResponse(e)
	}
	if ja.subjectsTaken(cfg.Subjects, cfg.Name) {
		return errResponse(jsError(jsStreamSubjectOverlap))
	}
	if e := ja.checkSourcingOrigins(cfg, false); e != nil {
		return errResponse(e)
	}
	if e := ja.checkReservation(cfg); e != nil {
		return errResponse(e)
	}
	if err := st.update(cfg); err != nil {
		return errResponse(jsError(jsStreamUpdate, err))
	}
	ja.adviseStream(cfg.Name, jsActionModify)
	return &JSApiStreamCreateResponse{StreamInfo: st.info(true, false)}
}

// checkStreamUpdate applies the reference's rules on what may change.
func checkStreamUpdate(old StreamConfig, c *StreamConfig) *ApiError {
	bad := func(msg string) *ApiError { return jsError(jsStreamInvalidConfig, msg) }
	switch {
	case old.Storage != c.Storage:
		return bad("stream configuration update can not change storage type")
	case old.Retention != c.Retention && (old.Retention == WorkQueuePolicy || c.Retention == WorkQueuePolicy):
		return bad("stream configuration update can not change retention policy to/from workqueue")
	case old.Sealed && !c.Sealed:
		return bad("stream configuration update can not unseal a sealed stream")
	case old.DenyDelete && !c.DenyDelete:
		return bad("stream configuration update can not cancel deny message deletes")
	case old.DenyPurge && !c.DenyPurge:
		return bad("stream configuration update can not cancel deny purge")
	case old.PersistMode != c.PersistMode:
		return bad("stream configuration update can not change persist mode")
	case old.Replicas != c.Replicas && max(old.Replicas, c.Replicas) > 1:
		return bad("changing num_replicas is not supported yet")
	}
	if e := checkBatchScheduleUpdate(&old, c); e != nil {
		return e
	}
	if e := checkMsgFeatureUpdate(&old, c); e != nil {
		return e
	}
	return checkSourcingUpdate(old, c)
}

// update applies a checked config: the store's limits, then the subjects.
func (st *stream) update(cfg *StreamConfig) error {
	if err := st.store.UpdateConfig(cfg); err != nil {
		return err
	}
	st.mu.Lock()
	old := st.config
	st.config = *cfg
	st.mu.Unlock()
	st.configUpdated(&old, cfg)
	st.updateSourcing()
	return st.subscribe()
}

// jsStreamInfoRequest is the optional body of STREAM.INFO.
type jsStreamInfoRequest struct {
	Offset         int    `json:"offset,omitempty"`
	DeletedDetails bool   `json:"deleted_details,omitempty"`
	SubjectsFilter string `json:"subjects_filter,omitempty"`
}

// jsSubjectsPageLimit is how many subjects one STREAM.INFO page lists.
const jsSubjectsPageLimit = 100000

func (ja *jsAccount) apiStreamInfo(r *jsAPIRequest, args []string) any {
	var req jsStreamInfoRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return &JSApiStreamInfoResponse{ApiResponse: ApiResponse{Error: e}}
		}
	}
	st := ja.lookupStream(args[0])
	if st == nil {
		return &JSApiStreamInfoResponse{ApiResponse: ApiResponse{Error: jsError(jsStreamNotFound)}}
	}
	resp := &JSApiStreamInfoResponse{StreamInfo: st.info(true, true)}
	if req.DeletedDetails {
		resp.State.Deleted = st.store.State().Deleted
	}
	if req.SubjectsFilter != "" {
		resp.Total, resp.Offset, resp.Limit = pageSubjects(&resp.State, st.store.SubjectsTotals(req.SubjectsFilter), req.Offset)
	}
	return resp
}

// pageSubjects puts one page of subject counts, in subject order, into ss.
func pageSubjects(ss *StreamState, totals map[string]uint64, offset int) (total, off, limit int) {
	names := make([]string, 0, len(totals))
	for subj := range totals {
		names = append(names, subj)
	}
	sort.Strings(names)
	total, off = len(names), max(offset, 0)
	if total == 0 {
		return 0, off, 0 // no subject matched: the reference pages nothing
	}
	if off >= total {
		return total, off, jsSubjectsPageLimit
	}
	ss.Subjects = make(map[string]uint64)
	for _, subj := range names[off:min(off+jsSubjectsPageLimit, total)] {
		ss.Subjects[subj] = totals[subj]
	}
	return total, off, jsSubjectsPageLimit
}

// jsPagedRequest is the optional body of NAMES and LIST.
type jsPagedRequest struct {
	Offset  int    `json:"offset"`
	Subject string `json:"subject,omitempty"`
}

// pagedStreams returns the page of streams from offset (filtered by
// subject), with the total.
func (ja *jsAccount) pagedStreams(r *jsAPIRequest, limit int) ([]*stream, int, int, *ApiError) {
	var req jsPagedRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return nil, 0, 0, e
		}
	}
	var all []*stream
	for _, st := range ja.streamList() {
		if req.Subject == "" || streamCollides(st, req.Subject) {
			all = append(all, st)
		}
	}
	total, off := len(all), max(req.Offset, 0)
	if off > total {
		off = total
	}
	end := min(off+limit, total)
	return all[off:end], total, off, nil
}

func streamCollides(st *stream, subject string) bool {
	for _, s := range st.cfg().Subjects {
		if subjectsCollide(s, subject) {
			return true
		}
	}
	return false
}

// JSApiStreamNamesResponse answers STREAM.NAMES.
type JSApiStreamNamesResponse struct {
	ApiResponse
	Total   int      `json:"total"`
	Offset  int      `json:"offset"`
	Limit   int      `json:"limit"`
	Streams []string `json:"streams"`
}

func (ja *jsAccount) apiStreamNames(r *jsAPIRequest, _ []string) any {
	page, total, off, e := ja.pagedStreams(r, 1024)
	if e != nil {
		return errResponse(e)
	}
	// An empty page is null here but [] in LIST, as the reference answers.
	resp := &JSApiStreamNamesResponse{Total: total, Offset: off, Limit: 1024}
	for _, st := range page {
		resp.Streams = append(resp.Streams, st.name)
	}
	return resp
}

// JSApiStreamListResponse answers STREAM.LIST.
type JSApiStreamListResponse struct {
	ApiResponse
	Total   int           `json:"total"`
	Offset  int           `json:"offset"`
	Limit   int           `json:"limit"`
	Streams []*StreamInfo `json:"streams"`
	Missing []string      `json:"missing,omitempty"`
}

func (ja *jsAccount) apiStreamList(r *jsAPIRequest, _ []string) any {
	page, total, off, e := ja.pagedStreams(r, 256)
	if e != nil {
		return errResponse(e)
	}
	resp := &JSApiStreamListResponse{Total: total, Offset: off, Limit: 256, Streams: []*StreamInfo{}}
	for _, st := range page {
		resp.Streams = append(resp.Streams, st.info(false, false))
	}
	return resp
}

// JSApiSuccessResponse answers DELETE and MSG.DELETE.
type JSApiSuccessResponse struct {
	ApiResponse
	Success bool `json:"success,omitempty"`
}

func (ja *jsAccount) apiStreamDelete(r *jsAPIRequest, args []string) any {
	if !isEmptyBody(r.msg) {
		return errResponse(jsError(jsNotEmptyRequest))
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	st := ja.lookupStream(args[0])
	if st == nil {
		return errResponse(jsError(jsStreamNotFound))
	}
	if err := ja.deleteStream(st); err != nil {
		return errResponse(jsError(jsStreamDeleteFailed, err))
	}
	ja.adviseStream(st.name, jsActionDelete)
	return &JSApiSuccessResponse{Success: true}
}
