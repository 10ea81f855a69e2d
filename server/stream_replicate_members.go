package server

import (
	"encoding/json"
	"slices"
	"strings"
)

// A stream group's snapshot names the stream's consumers as well as its
// last sequence: a member added to the group (jetstream_cluster_scale.go)
// starts from the leader's snapshot, and the consumers the log created
// before it are not in any entry it will apply. Snapshot format (JSON):
//
//	{"last_seq":N, "consumers":[{"name":..., "meta":<consumerMeta>,
//	 "state":<ConsumerState>}...]}
//
// Restore creates the consumers the replica's store lacks (stopped, as on
// any replica that does not lead) and leaves the others alone: their
// state arrives with the log's consumer state entries.
type replSnapConsumer struct {
	Name  string          `json:"name"`
	Meta  json.RawMessage `json:"meta"`
	State *ConsumerState  `json:"state"`
}

// snapConsumers lists the stream's consumers for a snapshot: the running
// ones (on the leader) from memory, the others from the store.
func (st *stream) snapConsumers() []replSnapConsumer {
	var out []replSnapConsumer
	running := make(map[string]bool)
	for _, c := range st.consumerList() {
		c.mu.Lock()
		if c.direct || c.cfg.MemoryStorage {
			c.mu.Unlock()
			continue
		}
		meta, err := json.Marshal(&consumerMeta{Config: c.cfg, Created: c.created})
		state := c.state.snapshot()
		c.mu.Unlock()
		if err == nil {
			out = append(out, replSnapConsumer{Name: c.name, Meta: meta, State: state})
			running[c.name] = true
		}
	}
	ns, ok := st.store.(consumerNamesStore)
	if !ok {
		return out
	}
	for _, name := range ns.ConsumerNames() {
		if running[name] {
			continue
		}
		if sc, ok := st.storedConsumer(name); ok {
			out = append(out, sc)
		}
	}
	return out
}

// storedConsumer reads a consumer that does not run here from the store.
func (st *stream) storedConsumer(name string) (replSnapConsumer, bool) {
	cs, err := st.store.ConsumerStore(name)
	if err != nil {
		return replSnapConsumer{}, false
	}
	defer cs.Stop()
	ms, ok := cs.(consumerMetaStore)
	if !ok {
		return replSnapConsumer{}, false
	}
	meta, err := ms.Meta()
	if err != nil {
		return replSnapConsumer{}, false
	}
	state, err := cs.State()
	if err != nil {
		return replSnapConsumer{}, false
	}
	return replSnapConsumer{Name: name, Meta: meta, State: state}, true
}

// snapConsumerNameOK refuses a name no consumer can have (it names a
// directory of the store: never a path).
func snapConsumerNameOK(name string) bool {
	return name != "" && len(name) <= jsMaxNameLen && !consumerNameBad(name) && !strings.ContainsAny(name, `\/`)
}

// restoreConsumers stores the snapshot's consumers this replica lacks.
func (st *stream) restoreConsumers(list []replSnapConsumer) error {
	ns, ok := st.store.(consumerNamesStore)
	if !ok {
		return nil
	}
	have := ns.ConsumerNames()
	for _, sc := range list {
		var meta consumerMeta
		if !snapConsumerNameOK(sc.Name) || slices.Contains(have, sc.Name) || st.lookupConsumer(sc.Name) != nil ||
			json.Unmarshal(sc.Meta, &meta) != nil {
			continue
		}
		cs, err := st.store.ConsumerStore(sc.Name)
		if err != nil {
			return err
		}
		ms, ok := cs.(consumerMetaStore)
		if ok {
			err = ms.WriteMeta(sc.Meta, true)
		}
		if err == nil && sc.State != nil {
			err = cs.Update(sc.State)
		}
		cs.Stop()
		if err != nil {
			return err
		}
	}
	return nil
}
