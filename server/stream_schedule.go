package server

import (
	"container/heap"
	"strconv"
	"strings"
	"time"
)

// Message schedules (allow_msg_schedules). A message carrying Nats-Schedule
// is a schedule: it is stored on its own subject (a subject roll-up keeps
// only the latest schedule there) and, at each time its pattern names
// (stream_cron.go), the stream stores a copy on Nats-Schedule-Target with
// Nats-Scheduler and Nats-Schedule-Next added. A one-shot (@at) schedule
// ends with a produced message saying "Nats-Schedule-Next: purge", which
// removes the schedule.
//
// The schedules live in the store, so they survive restarts: when a stream
// starts, its ingest goroutine rebuilds the timetable from the last message
// of each subject, taking the next fire time from the last produced message
// when there is one; a fire time missed while the server was down fires
// once. All of it runs on the stream's ingest goroutine (the single
// writer), woken by one timer per stream armed for the earliest schedule.

const (
	hdrSchedule         = "Nats-Schedule"
	hdrScheduleTarget   = "Nats-Schedule-Target"
	hdrScheduleSource   = "Nats-Schedule-Source"
	hdrScheduleTTL      = "Nats-Schedule-TTL"
	hdrScheduleRollup   = "Nats-Schedule-Rollup"
	hdrScheduleTimeZone = "Nats-Schedule-Time-Zone"
	hdrScheduler        = "Nats-Scheduler"
	hdrScheduleNext     = "Nats-Schedule-Next"
	schedHdrRollup      = "Nats-Rollup"
	schedHdrTTL         = "Nats-TTL"
	scheduleNextPurge   = "purge"
)

// Error identifiers of message schedules.
const (
	jsSchedulesDisabled   = "JSMessageSchedulesDisabledErr"
	jsSchedulesPattern    = "JSMessageSchedulesPatternInvalidErr"
	jsSchedulesTarget     = "JSMessageSchedulesTargetInvalidErr"
	jsSchedulesSource     = "JSMessageSchedulesSourceInvalidErr"
	jsSchedulesTTL        = "JSMessageSchedulesTTLInvalidErr"
	jsSchedulesRollup     = "JSMessageSchedulesRollupInvalidErr"
	jsSchedulesScheduler  = "JSMessageSchedulesSchedulerInvalidErr"
	jsSchedulesTimeZone   = "JSMessageSchedulesTimeZoneInvalidErr"
	jsMessageTTLDisabled  = "JSMessageTTLDisabledErr"
	jsScheduleMaxLoadMsgs = 1 << 20
)

// msgSchedule is one active schedule.
type msgSchedule struct {
	subject string
	pattern schedulePattern
	loc     *time.Location
	next    time.Time
	index   int
}

// streamSchedules is the stream's timetable; owned by the ingest goroutine.
type streamSchedules struct {
	bySubj  map[string]*msgSchedule
	queue   scheduleHeap
	timer   *time.Timer
	armedAt time.Time
}

type scheduleHeap []*msgSchedule

func (h scheduleHeap) Len() int           { return len(h) }
func (h scheduleHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h scheduleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *scheduleHeap) Push(x any) {
	s := x.(*msgSchedule)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *scheduleHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	s.index = -1
	return s
}

// Ticks queued to the ingest goroutine.
var (
	scheduleTickMsg = &inMsg{}
	scheduleLoadMsg = &inMsg{}
)

// preprocessInbound runs first for every queued message: batch messages,
// internal ticks and refused schedule headers are handled here (true);
// anything else goes on through processInbound.
func (st *stream) preprocessInbound(m *inMsg) bool {
	switch m {
	case scheduleTickMsg:
		st.fireSchedules(time.Now())
		return true
	case scheduleLoadMsg:
		st.loadSchedules()
		return true
	}
	if st.processFastBatch(m) || st.processBatch(m) {
		return true
	}
	if e := st.checkScheduleHeaders(m); e != nil {
		st.sendPubErr(m.reply, e)
		return true
	}
	return false
}

// queueIngestTick hands a tick to the ingest goroutine.
func (st *stream) queueIngestTick(tick *inMsg) {
	q := st.in
	q.mu.Lock()
	q.msgs = append(q.msgs, tick)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// startSchedules makes the ingest goroutine load the stored schedules.
func (st *stream) startSchedules() {
	if st.cfg().AllowMsgSchedules {
		st.queueIngestTick(scheduleLoadMsg)
	}
}

// checkScheduleHeaders validates the schedule headers of a publish, adding
// the subject roll-up a schedule implies.
func (st *stream) checkScheduleHeaders(m *inMsg) *ApiError {
	if len(m.hdr) == 0 {
		return nil
	}
	pattern, isSchedule := headerValue(m.hdr, hdrSchedule)
	scheduler, hasScheduler := headerValue(m.hdr, hdrScheduler)
	next, hasNext := headerValue(m.hdr, hdrScheduleNext)
	if !isSchedule && !hasScheduler && !hasNext {
		return nil
	}
	cfg := st.cfg()
	if !cfg.AllowMsgSchedules {
		return jsError(jsSchedulesDisabled)
	}
	if !isSchedule {
		// Only a purge of another subject's schedule may name a scheduler.
		if !hasScheduler || !hasNext || next != scheduleNextPurge || scheduler == m.subject {
			return jsError(jsSchedulesScheduler)
		}
		return nil
	}
	if _, _, e := parseScheduleHeaders(m.hdr, pattern); e != nil {
		return e
	}
	if e := st.checkScheduleSubjects(m, &cfg); e != nil {
		return e
	}
	if v, ok := headerValue(m.hdr, hdrScheduleTTL); ok {
		if _, ok := parseScheduleTTL(v); !ok {
			return jsError(jsSchedulesTTL)
		}
		if !cfg.AllowMsgTTL {
			return jsError(jsMessageTTLDisabled)
		}
	}
	if v, ok := headerValue(m.hdr, hdrScheduleRollup); ok && v != "sub" {
		return jsError(jsSchedulesRollup)
	}
	if v, ok := headerValue(m.hdr, schedHdrRollup); ok {
		if v != "sub" {
			return jsError(jsSchedulesRollup)
		}
	} else {
		m.hdr = setHeader(m.hdr, schedHdrRollup, "sub")
	}
	return nil
}

// parseScheduleHeaders parses the pattern and its time zone.
func parseScheduleHeaders(hdr []byte, pattern string) (schedulePattern, *time.Location, *ApiError) {
	p, err := parseSchedulePattern(pattern)
	if err != nil {
		return p, nil, jsError(jsSchedulesPattern)
	}
	tz, ok := headerValue(hdr, hdrScheduleTimeZone)
	if !ok {
		return p, time.UTC, nil
	}
	if p.kind != scheduleCron {
		return p, nil, jsError(jsSchedulesPattern)
	}
	loc, lerr := time.LoadLocation(tz)
	if tz == "" || lerr != nil {
		return p, nil, jsError(jsSchedulesTimeZone)
	}
	return p, loc, nil
}

// checkScheduleSubjects checks the target and the optional source.
func (st *stream) checkScheduleSubjects(m *inMsg, cfg *StreamConfig) *ApiError {
	inStream := func(s string) bool {
		if !IsValidLiteralSubject(s) {
			return false
		}
		for _, f := range cfg.Subjects {
			if subjectIsSubsetOf(s, f) {
				return true
			}
		}
		return false
	}
	target, _ := headerValue(m.hdr, hdrScheduleTarget)
	if target == m.subject || !inStream(target) {
		return jsError(jsSchedulesTarget)
	}
	if src, ok := headerValue(m.hdr, hdrScheduleSource); ok {
		if src == target || src == m.subject || !inStream(src) {
			return jsError(jsSchedulesSource)
		}
	}
	return nil
}

// parseScheduleTTL reads a Nats-TTL style value: a Go duration or whole
// seconds, at least one second, or "never" (-1).
func parseScheduleTTL(v string) (time.Duration, bool) {
	if strings.EqualFold(v, "never") {
		return -1, true
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 1 || n > int64(1<<62/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, false
	}
	return d, true
}

// afterStored runs once a message is stored: a new schedule replaces the
// subject's previous one; a purge message ends the schedule it names.
func (st *stream) afterStored(m *inMsg, seq uint64) {
	if len(m.hdr) == 0 {
		return
	}
	pattern, isSchedule := headerValue(m.hdr, hdrSchedule)
	next, isPurge := headerValue(m.hdr, hdrScheduleNext)
	if (!isSchedule && !isPurge) || !st.cfg().AllowMsgSchedules {
		return
	}
	if isSchedule {
		if _, err := st.store.PurgeEx(m.subject, seq, 0); err != nil {
			st.ja.js.srv.Warnf("JetStream stream '%s > %s': schedule roll-up: %v", st.ja.acc.Name, st.name, err)
		}
		st.addSchedule(m.subject, m.hdr, pattern, time.Now(), time.Time{})
		return
	}
	if next == scheduleNextPurge {
		if subj, ok := headerValue(m.hdr, hdrScheduler); ok {
			st.endSchedule(subj)
		}
	}
}

// addSchedule (re)places the schedule of subject; next, when set, is the
// fire time remembered from before a restart.
func (st *stream) addSchedule(subject string, hdr []byte, pattern string, now, next time.Time) {
	p, loc, e := parseScheduleHeaders(hdr, pattern)
	if e != nil {
		return
	}
	ss := &st.schedules
	if old := ss.bySubj[subject]; old != nil {
		heap.Remove(&ss.queue, old.index)
	}
	if next.IsZero() {
		switch p.kind {
		case scheduleAt:
			next = p.at
		default:
			next = p.nextAfter(now, loc)
		}
	}
	if next.IsZero() {
		delete(ss.bySubj, subject)
		return
	}
	s := &msgSchedule{subject: strings.Clone(subject), pattern: p, loc: loc, next: next}
	if ss.bySubj == nil {
		ss.bySubj = make(map[string]*msgSchedule)
	}
	ss.bySubj[s.subject] = s
	heap.Push(&ss.queue, s)
	st.armScheduleTimer()
}

// endSchedule forgets subject's schedule and purges its message.
func (st *stream) endSchedule(subject string) {
	ss := &st.schedules
	if s := ss.bySubj[subject]; s != nil {
		heap.Remove(&ss.queue, s.index)
		delete(ss.bySubj, subject)
	}
	if _, err := st.store.PurgeEx(subject, 0, 0); err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': ending schedule %q: %v", st.ja.acc.Name, st.name, subject, err)
	}
}

// armScheduleTimer arms the stream's one timer for the earliest schedule.
func (st *stream) armScheduleTimer() {
	ss := &st.schedules
	if len(ss.queue) == 0 {
		return
	}
	at := ss.queue[0].next
	if !ss.armedAt.IsZero() && !ss.armedAt.After(at) {
		return
	}
	ss.armedAt = at
	d := time.Until(at)
	if ss.timer == nil {
		ss.timer = time.AfterFunc(d, func() { st.queueIngestTick(scheduleTickMsg) })
		return
	}
	ss.timer.Reset(d)
}

// releaseIngestState drops the open batches and stops the schedule timer,
// once the ingest goroutine has stopped.
func (st *stream) releaseIngestState() {
	st.dropBatches()
	if st.schedules.timer != nil {
		st.schedules.timer.Stop()
	}
}

// fireSchedules produces the message of every schedule due by now; a
// schedule that missed several times fires once.
func (st *stream) fireSchedules(now time.Time) {
	ss := &st.schedules
	ss.armedAt = time.Time{}
	for len(ss.queue) > 0 && !ss.queue[0].next.After(now) {
		s := ss.queue[0]
		next := time.Time{}
		if s.pattern.kind != scheduleAt {
			next = s.pattern.nextAfter(now, s.loc)
		}
		if !st.produceScheduled(s, next) || next.IsZero() {
			if ss.bySubj[s.subject] == s {
				heap.Remove(&ss.queue, s.index)
				delete(ss.bySubj, s.subject)
			}
			continue
		}
		s.next = next
		heap.Fix(&ss.queue, s.index)
	}
	st.armScheduleTimer()
}

// produceScheduled stores the message of schedule s; next is its following
// fire time (zero: none, the schedule ends). It reports whether the
// schedule is still there.
func (st *stream) produceScheduled(s *msgSchedule, next time.Time) bool {
	sm, err := st.store.LoadLastMsg(s.subject, nil)
	if err != nil {
		return false
	}
	if _, ok := headerValue(sm.Hdr, hdrSchedule); !ok {
		return false
	}
	target, _ := headerValue(sm.Hdr, hdrScheduleTarget)
	hdr, msg := sm.Hdr, sm.Msg
	if src, ok := headerValue(sm.Hdr, hdrScheduleSource); ok {
		// Without a message on the source yet, the schedule's own is sent.
		if srcMsg, err := st.store.LoadLastMsg(src, nil); err == nil {
			hdr, msg = srcMsg.Hdr, srcMsg.Msg
		}
	}
	nextVal := scheduleNextPurge
	if !next.IsZero() {
		nextVal = next.In(s.loc).Format(time.RFC3339Nano)
	}
	out, ttl, rollup := scheduledHeaders(hdr, sm.Hdr, s.subject, nextVal)
	seq, _, err := st.storeProduced(target, out, msg, int64(ttl))
	if err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': schedule %q: %v", st.ja.acc.Name, st.name, s.subject, err)
		return true
	}
	st.noteStored(target, out, msg)
	st.notifyAppend()
	st.in.lastMsgID = ""
	if rollup {
		_, _ = st.store.PurgeEx(target, seq, 0)
	}
	if next.IsZero() {
		st.endSchedule(s.subject)
		return false
	}
	return true
}

// scheduledHeaders builds the produced message's headers from hdr (the
// schedule's or its source's): without the schedule, expectation, msg id,
// TTL and roll-up headers, plus Nats-Scheduler, Nats-Schedule-Next and the
// TTL and roll-up the schedule asks for.
func scheduledHeaders(hdr, sched []byte, subject, next string) ([]byte, time.Duration, bool) {
	out := append(make([]byte, 0, len(hdr)+96), "NATS/1.0\r\n"...)
	out, _ = appendHeaderLinesExcept(out, hdr, func(key string) bool {
		return strings.HasPrefix(key, "Nats-Schedule") || strings.HasPrefix(key, "Nats-Expected-") ||
			key == hdrMsgID || key == schedHdrTTL || key == schedHdrRollup || key == hdrScheduler
	})
	out = appendHeader(out, hdrScheduler, subject)
	out = appendHeader(out, hdrScheduleNext, next)
	var ttl time.Duration
	if v, ok := headerValue(sched, hdrScheduleTTL); ok {
		ttl, _ = parseScheduleTTL(v)
		out = appendHeader(out, schedHdrTTL, v)
	}
	v, rollup := headerValue(sched, hdrScheduleRollup)
	if rollup {
		out = appendHeader(out, schedHdrRollup, v)
	}
	return append(out, "\r\n"...), ttl, rollup
}

// loadSchedules rebuilds the timetable from the store after a start.
func (st *stream) loadSchedules() {
	now := time.Now()
	// A timer that fired while this replica did not lead had its tick
	// refused: arm it again.
	st.schedules.armedAt = time.Time{}
	n := 0
	for subj := range st.store.SubjectsTotals(">") {
		if n++; n > jsScheduleMaxLoadMsgs {
			st.ja.js.srv.Warnf("JetStream stream '%s > %s': too many subjects to look for schedules", st.ja.acc.Name, st.name)
			return
		}
		sm, err := st.store.LoadLastMsg(subj, nil)
		if err != nil || len(sm.Hdr) == 0 {
			continue
		}
		pattern, ok := headerValue(sm.Hdr, hdrSchedule)
		if !ok {
			continue
		}
		st.addSchedule(subj, sm.Hdr, pattern, now, st.rememberedNext(subj, sm))
	}
}

// rememberedNext is the next fire time the schedule's last produced message
// announced; zero when there is none (the pattern decides from now).
func (st *stream) rememberedNext(subject string, sched *StoreMsg) time.Time {
	target, _ := headerValue(sched.Hdr, hdrScheduleTarget)
	last, err := st.store.LoadLastMsg(target, nil)
	if err != nil || last.Seq < sched.Seq {
		if p, err := parseSchedulePattern(mustHeader(sched.Hdr, hdrSchedule)); err == nil && p.kind != scheduleAt {
			// Never fired: its first time counts from when it was stored.
			_, loc, _ := parseScheduleHeaders(sched.Hdr, mustHeader(sched.Hdr, hdrSchedule))
			if loc != nil {
				return p.nextAfter(time.Unix(0, sched.TS), loc)
			}
		}
		return time.Time{}
	}
	if s, _ := headerValue(last.Hdr, hdrScheduler); s != subject {
		return time.Time{}
	}
	v, _ := headerValue(last.Hdr, hdrScheduleNext)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

func mustHeader(hdr []byte, key string) string {
	v, _ := headerValue(hdr, key)
	return v
}
