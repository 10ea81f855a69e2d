package server

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Schedule patterns of Nats-Schedule (stream_schedule.go): "@at <RFC 3339>"
// (one shot), "@every <duration of at least 1s>", the 6-field cron
// "sec min hour day-of-month month day-of-week" and the shorthands @yearly,
// @annually, @monthly, @weekly, @daily, @midnight, @hourly. Parsing is pure
// and fuzzed; nextAfter never loops more than a bounded number of steps.

var errBadSchedule = errors.New("invalid schedule")

type scheduleKind uint8

const (
	scheduleAt scheduleKind = iota + 1
	scheduleEvery
	scheduleCron
)

// schedulePattern is a parsed Nats-Schedule value.
type schedulePattern struct {
	kind  scheduleKind
	at    time.Time
	every time.Duration
	cron  cronSpec
}

// cronSpec holds, per field, a bit per allowed value.
type cronSpec struct {
	sec, min, hour, dom, month, dow uint64
	domAny, dowAny                  bool
}

type cronField struct {
	lo, hi int
	names  []string
}

var cronFields = [6]cronField{
	{0, 59, nil}, {0, 59, nil}, {0, 23, nil}, {1, 31, nil},
	{1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{0, 6, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

var cronShorthands = map[string]string{
	"@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
	"@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *", "@hourly": "0 0 * * * *",
}

// parseSchedulePattern parses a Nats-Schedule value.
func parseSchedulePattern(s string) (schedulePattern, error) {
	var p schedulePattern
	if v, ok := strings.CutPrefix(s, "@at "); ok {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			return p, errBadSchedule
		}
		p.kind, p.at = scheduleAt, t
		return p, nil
	}
	if v, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < time.Second {
			return p, errBadSchedule
		}
		p.kind, p.every = scheduleEvery, d
		return p, nil
	}
	if expr, ok := cronShorthands[s]; ok {
		s = expr
	}
	f := strings.Fields(s)
	if len(f) != 6 {
		return p, errBadSchedule
	}
	masks := [6]uint64{}
	for i, field := range f {
		m, err := parseCronField(field, cronFields[i])
		if err != nil {
			return p, err
		}
		masks[i] = m
	}
	p.kind = scheduleCron
	p.cron = cronSpec{sec: masks[0], min: masks[1], hour: masks[2], dom: masks[3], month: masks[4], dow: masks[5],
		domAny: f[3] == "*" || f[3] == "?", dowAny: f[5] == "*" || f[5] == "?"}
	return p, nil
}

// parseCronField parses a comma list of "*", "?", "n", "a-b", each with an
// optional "/step".
func parseCronField(s string, cf cronField) (uint64, error) {
	var mask uint64
	for _, part := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 || n > cf.hi {
				return 0, errBadSchedule
			}
			step = n
		}
		lo, hi := cf.lo, cf.hi
		switch {
		case rng == "*" || rng == "?":
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(a, cf); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = cronValue(b, cf); err != nil || hi < lo {
					return 0, errBadSchedule
				}
			} else if hasStep {
				hi = cf.hi
			}
		}
		for v := lo; v <= hi; v += step {
			mask |= 1 << uint(v)
		}
	}
	return mask, nil
}

func cronValue(s string, cf cronField) (int, error) {
	for i, n := range cf.names {
		if strings.EqualFold(s, n) {
			return cf.lo + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < cf.lo || n > cf.hi {
		return 0, errBadSchedule
	}
	return n, nil
}

// cronMaxSteps bounds nextAfter's search (a pattern such as Feb 30 never
// matches).
const cronMaxSteps = 100000

// nextAfter returns the first time strictly after t that the pattern
// fires, in loc; the zero time if it never does again.
func (p *schedulePattern) nextAfter(t time.Time, loc *time.Location) time.Time {
	switch p.kind {
	case scheduleAt:
		if p.at.After(t) {
			return p.at
		}
		return time.Time{}
	case scheduleEvery:
		return t.Truncate(time.Second).Add(p.every)
	case scheduleCron:
		return p.cron.nextAfter(t.In(loc))
	}
	return time.Time{}
}

func (c *cronSpec) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domAny || c.dowAny {
		return dom && dow
	}
	return dom || dow
}

func (c *cronSpec) nextAfter(t time.Time) time.Time {
	t = t.Truncate(time.Second).Add(time.Second)
	for i := 0; i < cronMaxSteps; i++ {
		y, mo, d := t.Date()
		loc := t.Location()
		switch {
		case c.month&(1<<uint(mo)) == 0:
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
		case !c.dayMatches(t):
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
		case c.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(y, mo, d, t.Hour()+1, 0, 0, 0, loc)
		case c.min&(1<<uint(t.Minute())) == 0:
			t = time.Date(y, mo, d, t.Hour(), t.Minute()+1, 0, 0, loc)
		case c.sec&(1<<uint(t.Second())) == 0:
			t = t.Add(time.Second)
		default:
			return t
		}
	}
	return time.Time{}
}
