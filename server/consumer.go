package server

import (
	"encoding/json"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// consumer is one JetStream consumer of a stream. It owns no goroutine:
// its work (acks, pull requests, deliveries, timers) runs on the shared
// consumer workers (consumer_work.go) when something happens, so an idle
// consumer costs only its memory.
type consumer struct {
	st      *stream
	name    string
	created time.Time
	store   ConsumerStore
	// ackPrefix is "$JS.ACK.<stream>.<consumer>." for the v1 reply subject.
	ackPrefix string
	// direct: a copy's consumer in another stream's service (config
	// direct, which no update changes); left out of counts and lists.
	direct bool

	mu       sync.Mutex // guards the fields below; taken with no other lock held
	cfg      ConsumerConfig
	filters  []string // nil: every subject
	sample   int      // percentage of acks reported as metrics (sample_freq)
	state    consumerState
	waiting  pullQueue
	acks     []ackItem // acknowledgements waiting for the worker
	spareAck []ackItem
	timer    *time.Timer
	armedAt  time.Time // the timer's deadline; zero when disarmed
	flushAt  time.Time // when changed state is saved at the latest; zero when clean
	// replay_policy original: the first delivery's wall time and stored
	// time, and when the next message is due (zero: not waiting).
	replayWall time.Time
	replayTS   int64
	replayAt   time.Time
	deleted    bool
	adm        *consumerAdmin // pin and pause (consumer_admin.go); nil until used
	push       *pushState     // nil for a pull consumer (consumer_push.go)

	// sched is the worker scheduling state: 0 idle, 1 queued or running,
	// 2 running and asked to run again.
	sched atomic.Int32
	// hungry: the consumer waits for the stream's next committed message.
	hungry bool
	// activeNs is when the consumer last had a pull request or an ack
	// (unix ns), for inactive_threshold.
	activeNs atomic.Int64
}

// streamConsumers is a stream's consumer registry.
type streamConsumers struct {
	mu     sync.RWMutex // leaf
	byName map[string]*consumer
	// cfgs holds every consumer's configuration (at pos[c]), for the
	// create check's view of the others without an O(n) copy per create.
	// Changed only under jsAccount.createMu (and at recovery).
	cfgs   []*ConsumerConfig
	owners []*consumer // owners[i] has cfgs[i]
	pos    map[*consumer]int
	// hungry are the consumers waiting for a message past the committed
	// sequence; the commit of a round wakes them.
	hungry  map[*consumer]struct{}
	nhungry atomic.Int32
	// committed is the last stream sequence whose ingest round committed:
	// consumers never deliver past it.
	committed atomic.Uint64
}

// consumerMetaStore is implemented by consumer stores that persist the
// consumer's configuration next to its state (the file store).
type consumerMetaStore interface {
	WriteMeta(meta []byte, durable bool) error
	Meta() ([]byte, error)
}

// consumerNamesStore lists the consumers a store holds (file store).
type consumerNamesStore interface {
	ConsumerNames() []string
}

// consumerMeta is what is stored with a consumer to recreate it.
type consumerMeta struct {
	Config  ConsumerConfig `json:"config"`
	Created time.Time      `json:"created"`
}

// initConsumers prepares the registry of a stream just opened and brings
// back the consumers its store holds.
func (st *stream) initConsumers() {
	var ss StreamState
	st.store.FastState(&ss)
	st.cons.committed.Store(ss.LastSeq)
	if st.replicated {
		return // started on the group's leader only (activateConsumers)
	}
	st.recoverConsumers()
}

// recoverConsumers brings back the stored consumers not running yet.
func (st *stream) recoverConsumers() {
	ns, ok := st.store.(consumerNamesStore)
	if !ok {
		return
	}
	for _, name := range ns.ConsumerNames() {
		if st.lookupConsumer(name) == nil {
			st.recoverConsumer(name)
		}
	}
}

// recoverConsumer recreates one stored consumer; a damaged one is logged
// and left on disk.
func (st *stream) recoverConsumer(name string) {
	s := st.ja.js.srv
	cs, err := st.store.ConsumerStore(name)
	if err != nil {
		s.Warnf("  Error recovering consumer '%s > %s > %s': %v", st.ja.acc.Name, st.name, name, err)
		return
	}
	ms, ok := cs.(consumerMetaStore)
	if !ok {
		return
	}
	raw, err := ms.Meta()
	var meta consumerMeta
	if err == nil {
		err = json.Unmarshal(raw, &meta)
	}
	if err != nil {
		s.Warnf("  Error recovering consumer '%s > %s > %s': %v", st.ja.acc.Name, st.name, name, err)
		return
	}
	saved, err := cs.State()
	if err != nil {
		s.Warnf("  Error recovering consumer '%s > %s > %s' state: %v", st.ja.acc.Name, st.name, name, err)
		saved = &ConsumerState{}
	}
	c := st.newConsumer(name, &meta.Config, meta.Created, cs)
	c.state.restore(&c.cfg, saved)
	st.registerConsumer(c)
	c.rearm()
	c.adminRecovered()
}

// newConsumer builds a consumer around its store; it is not registered.
func (st *stream) newConsumer(name string, cfg *ConsumerConfig, created time.Time, cs ConsumerStore) *consumer {
	c := &consumer{st: st, name: name, created: created, store: cs, cfg: *cfg,
		ackPrefix: "$JS.ACK." + st.name + "." + name + ".", direct: cfg.Direct}
	c.filters, c.sample = consumerFilters(cfg), sampleFrequency(cfg.SampleFrequency)
	c.push = newPushState(st, name, cfg)
	c.activeNs.Store(time.Now().UnixNano())
	return c
}

// consumerFilters is the list of filters, nil when the consumer takes
// every subject.
func consumerFilters(cfg *ConsumerConfig) []string {
	var fs []string
	if cfg.FilterSubject != "" {
		fs = append(fs, cfg.FilterSubject)
	}
	for _, f := range cfg.FilterSubjects {
		if f != "" {
			fs = append(fs, f)
		}
	}
	for _, f := range fs {
		if f == ">" {
			return nil
		}
	}
	return fs
}

// registerConsumer makes c reachable by name and, on interest and
// workqueue streams, by the retention bookkeeping.
func (st *stream) registerConsumer(c *consumer) {
	r := &st.cons
	r.mu.Lock()
	if r.byName == nil {
		r.byName, r.pos = make(map[string]*consumer), make(map[*consumer]int)
	}
	r.byName[c.name] = c
	cfg := c.config()
	r.pos[c] = len(r.cfgs)
	r.cfgs, r.owners = append(r.cfgs, &cfg), append(r.owners, c)
	r.mu.Unlock()
	if st.cfg().Retention != LimitsPolicy {
		st.addRetentionConsumer(c.name, c)
	}
	st.ja.ensureAckSub()
	c.startPush()
}

func (st *stream) lookupConsumer(name string) *consumer {
	r := &st.cons
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

// consumerList returns the stream's consumers sorted by name.
func (st *stream) consumerList() []*consumer {
	r := &st.cons
	r.mu.RLock()
	out := make([]*consumer, 0, len(r.byName))
	for _, c := range r.byName {
		out = append(out, c)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// numConsumers counts the consumers the API reports: not the direct ones
// copies in other domains create, which the reference leaves out of
// consumer_count, account usage and limits (observed on v2.15.2).
func (st *stream) numConsumers() int {
	r := &st.cons
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, c := range r.byName {
		if !c.direct {
			n++
		}
	}
	return n
}

// listedConsumers is consumerList without the direct consumers, which
// CONSUMER.NAMES, LIST and snapshots leave out as the reference does.
func (st *stream) listedConsumers() []*consumer {
	all := st.consumerList()
	out := all[:0]
	for _, c := range all {
		if !c.direct {
			out = append(out, c)
		}
	}
	return out
}

// unregisterConsumer takes c out of the registry; it reports false when
// c was not (or no longer) registered.
func (st *stream) unregisterConsumer(c *consumer) bool {
	r := &st.cons
	r.mu.Lock()
	ok := r.byName[c.name] == c
	if ok {
		delete(r.byName, c.name)
		i, last := r.pos[c], len(r.cfgs)-1
		moved := r.owners[last]
		r.pos[moved] = i
		r.cfgs[i], r.owners[i] = r.cfgs[last], moved
		r.cfgs[last], r.owners[last] = nil, nil
		r.cfgs, r.owners = r.cfgs[:last], r.owners[:last]
		delete(r.pos, c)
	}
	if _, h := r.hungry[c]; h {
		delete(r.hungry, c)
		r.nhungry.Add(-1)
	}
	r.mu.Unlock()
	if ok && st.cfg().Retention != LimitsPolicy {
		st.removeRetentionConsumer(c.name)
	}
	return ok
}

// deleteConsumer removes c and its state; waiting pull requests are told.
func (st *stream) deleteConsumer(c *consumer) error {
	if !st.unregisterConsumer(c) {
		return nil
	}
	c.halt(true)
	return c.store.Delete()
}

// halt stops c's timer and releases its waiting requests, with 409
// Consumer Deleted when deleted (a stop at shutdown saves the state).
func (c *consumer) halt(deleted bool) {
	c.mu.Lock()
	c.deleted = true
	c.stopPush()
	if c.timer != nil {
		c.timer.Stop()
	}
	reqs := c.waiting.takeAll()
	c.mu.Unlock()
	if deleted {
		for _, pr := range reqs {
			c.sendStatus(pr.reply, statusConsumerDeleted, 0, 0)
		}
	}
}

// releaseWaitingAtShutdown ends every waiting pull request with "409
// Server Shutdown" and what it had left to receive, as the reference does,
// while the clients are still connected to hear it (a client then asks
// again once it reconnects, and learns whether its consumer survived).
func (s *Server) releaseWaitingAtShutdown() {
	js := s.js.Load()
	if js == nil {
		return
	}
	for _, ja := range js.accounts() {
		for _, st := range ja.streamList() {
			for _, c := range st.consumerList() {
				c.mu.Lock()
				reqs := c.waiting.takeAll()
				c.mu.Unlock()
				for _, pr := range reqs {
					c.sendStatus(pr.reply, statusServerShutdown, pr.batch, pr.maxBytes)
				}
			}
		}
	}
}

// stopConsumers stops every consumer of a stream that stops, saving its
// state.
func (st *stream) stopConsumers() {
	for _, c := range st.consumerList() {
		_ = c.flushState()
		c.halt(false)
		_ = c.store.Stop()
	}
}

// dropConsumers forgets every consumer of a stream being deleted (the
// store's deletion removes their files).
func (st *stream) dropConsumers() {
	for _, c := range st.consumerList() {
		st.unregisterConsumer(c)
		c.halt(true)
	}
}

// committed is called once a round's messages are durable: it advances
// the committed sequence and wakes the consumers waiting for messages.
func (st *stream) consumersCommitted() {
	var ss StreamState
	st.store.FastState(&ss)
	st.consumersCommittedTo(ss.LastSeq)
}

// consumersCommittedTo is consumersCommitted up to sequence seq (a
// replicated stream's leader has stored more than is committed).
func (st *stream) consumersCommittedTo(seq uint64) {
	r := &st.cons
	r.committed.Store(seq)
	if r.nhungry.Load() == 0 {
		return
	}
	r.mu.Lock()
	wake := make([]*consumer, 0, len(r.hungry))
	for c := range r.hungry {
		wake = append(wake, c)
		delete(r.hungry, c)
	}
	r.nhungry.Store(0)
	r.mu.Unlock()
	for _, c := range wake {
		c.schedule()
	}
}

// waitCommit registers c to be woken by the next commit; if one happened
// since seen, c runs again at once.
func (c *consumer) waitCommit(seen uint64) {
	r := &c.st.cons
	r.mu.Lock()
	if r.hungry == nil {
		r.hungry = make(map[*consumer]struct{})
	}
	if _, ok := r.hungry[c]; !ok {
		r.hungry[c] = struct{}{}
		r.nhungry.Add(1)
	}
	r.mu.Unlock()
	if r.committed.Load() != seen {
		c.schedule()
	}
}

// config returns a copy of c's configuration.
func (c *consumer) config() ConsumerConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// isPull reports whether c is a pull consumer.
func (c *consumer) isPull() bool { return c.cfg.DeliverSubject == "" }

// Interested implements RetentionConsumer.
func (c *consumer) Interested(subject string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.matches(subject)
}

// matches reports whether subject passes c's filters; c.mu held.
func (c *consumer) matches(subject string) bool {
	if c.filters == nil {
		return true
	}
	for _, f := range c.filters {
		if SubjectMatchesFilter(subject, f) {
			return true
		}
	}
	return false
}

// Acked implements RetentionConsumer.
func (c *consumer) Acked(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.acked(seq)
}

// saveMeta stores the configuration next to the state.
func (c *consumer) saveMeta() error {
	ms, ok := c.store.(consumerMetaStore)
	if !ok {
		return nil
	}
	cfg := c.config()
	b, err := json.Marshal(&consumerMeta{Config: cfg, Created: c.created})
	if err != nil {
		return err
	}
	return ms.WriteMeta(b, cfg.Durable != "")
}

// sampleFrequency reads sample_freq ("N" or "N%", 0-100) as a percentage;
// the create check refuses anything else.
func sampleFrequency(s string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, 100)
}

// sampled decides whether this ack is reported as a metric; c.mu held.
func (c *consumer) sampled() bool {
	return c.sample >= 100 || (c.sample > 0 && rand.IntN(100) < c.sample)
}

// consumerInfos is every consumer's info, sorted by name, with its
// config only when asked (/jsz).
func (st *stream) consumerInfos(withConfig bool) []*ConsumerInfo {
	list := st.consumerList()
	out := make([]*ConsumerInfo, 0, len(list))
	for _, c := range list {
		ci := c.info(false)
		if !withConfig {
			ci.Config = nil
		}
		out = append(out, ci)
	}
	return out
}

// otherConfigs are the configurations of the stream's consumers other
// than except (nil: all), for the create check; read-only. The caller
// holds jsAccount.createMu.
func (st *stream) otherConfigs(except *consumer) []*ConsumerConfig {
	r := &st.cons
	r.mu.RLock()
	defer r.mu.RUnlock()
	all := r.cfgs[:len(r.cfgs):len(r.cfgs)]
	i, ok := r.pos[except]
	if !ok {
		return all
	}
	out := make([]*ConsumerConfig, 0, len(all))
	out = append(out, all[:i]...)
	return append(out, all[i+1:]...)
}

// configChanged records an updated configuration in the registry; the
// caller holds jsAccount.createMu.
func (st *stream) configChanged(c *consumer, cfg *ConsumerConfig) {
	r := &st.cons
	r.mu.Lock()
	if i, ok := r.pos[c]; ok {
		cp := *cfg
		r.cfgs[i] = &cp
	}
	r.mu.Unlock()
}
