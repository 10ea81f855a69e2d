// Package logger writes the server's log in the same shape as the reference
// NATS server, to stderr, to a (rotating) file, or to syslog.
//
// A line written to stderr or to a file has the form
//
//	[pid] 2006/01/02 15:04:05.000000 [INF] message
//
// where the "[pid] " prefix is present only when asked for, the timestamp
// (local time, or UTC with LogUTC(true)) only when asked for, and the label is
// one of INF, WRN, ERR, FTL, DBG or TRC. Every line ends with a single "\n".
package logger

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// level indexes the per-level labels and syslog severities.
type level uint8

const (
	lvlNotice level = iota
	lvlWarn
	lvlError
	lvlFatal
	lvlDebug
	lvlTrace
	numLevels
)

// timeLayout is the reference's timestamp: microseconds, fixed width, so that
// log lines stay column-aligned and sort lexically.
const timeLayout = "2006/01/02 15:04:05.000000"

var plainLabels = [numLevels]string{
	lvlNotice: "[INF] ",
	lvlWarn:   "[WRN] ",
	lvlError:  "[ERR] ",
	lvlFatal:  "[FTL] ",
	lvlDebug:  "[DBG] ",
	lvlTrace:  "[TRC] ",
}

// colorLabels are only used on a terminal; operators grep files, which always
// get plainLabels.
var colorLabels = [numLevels]string{
	lvlNotice: "[\x1b[32mINF\x1b[0m] ",
	lvlWarn:   "[\x1b[0;93mWRN\x1b[0m] ",
	lvlError:  "[\x1b[31mERR\x1b[0m] ",
	lvlFatal:  "[\x1b[31mFTL\x1b[0m] ",
	lvlDebug:  "[\x1b[36mDBG\x1b[0m] ",
	lvlTrace:  "[\x1b[33mTRC\x1b[0m] ",
}

// output receives finished records. For decorated loggers (stderr, file) b
// is a whole line; for syslog it is the bare message, since syslog adds its
// own header. b is only valid during the call.
type output interface {
	emit(lv level, b []byte)
	reopen() error
	close() error
}

// Logger writes leveled, formatted records. It is safe for concurrent use;
// its debug and trace switches are fixed at construction so the disabled
// paths need no synchronisation.
type Logger struct {
	debug    bool
	trace    bool
	decorate bool // add pid, time and label (false for syslog)
	withTime bool
	utc      bool
	pid      string // "[1234] " or ""
	labels   *[numLevels]string
	out      output
}

// Option tunes a Logger at construction.
type Option func(*options)

type options struct {
	utc    bool
	limit  int64
	maxNum int
}

// LogUTC makes timestamps UTC instead of local time (config logtime_utc).
func LogUTC(utc bool) Option { return func(o *options) { o.utc = utc } }

// SizeLimit makes a file logger rotate once a write leaves the file larger
// than bytes (config log_size_limit). Zero or negative disables rotation.
func SizeLimit(bytes int64) Option { return func(o *options) { o.limit = bytes } }

// MaxNumFiles bounds how many log files a rotating file logger keeps,
// counting the live file (config logfile_max_num); older backups are deleted.
// Zero means unlimited.
func MaxNumFiles(n int) Option { return func(o *options) { o.maxNum = n } }

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

func pidPrefix(pid bool) string {
	if !pid {
		return ""
	}
	return "[" + strconv.Itoa(os.Getpid()) + "] "
}

// NewStdLogger returns a Logger writing to stderr. colors only takes effect
// when stderr is a terminal, so redirected output stays plain.
func NewStdLogger(time, debug, trace, colors, pid bool, opts ...Option) *Logger {
	o := buildOptions(opts)
	labels := &plainLabels
	if colors && isTerminal(os.Stderr) {
		labels = &colorLabels
	}
	return &Logger{
		debug: debug, trace: trace,
		decorate: true, withTime: time, utc: o.utc,
		pid: pidPrefix(pid), labels: labels,
		out: &writerOutput{w: os.Stderr},
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writerOutput serialises whole lines to a writer that is never reopened.
type writerOutput struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (o *writerOutput) emit(_ level, b []byte) {
	o.mu.Lock()
	_, _ = o.w.Write(b)
	o.mu.Unlock()
}

func (o *writerOutput) reopen() error { return nil }
func (o *writerOutput) close() error  { return nil }

// bufPool recycles line buffers so an enabled log call costs no more than
// fmt's own work.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxPooledBuf keeps one huge record from pinning a huge buffer forever.
const maxPooledBuf = 64 << 10

func (l *Logger) logf(lv level, format string, v []any) {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if l.decorate {
		b = append(b, l.pid...)
		if l.withTime {
			now := time.Now()
			if l.utc {
				now = now.UTC()
			}
			b = now.AppendFormat(b, timeLayout)
			b = append(b, ' ')
		}
		b = append(b, l.labels[lv]...)
	}
	b = fmt.Appendf(b, format, v...)
	if l.decorate && (len(b) == 0 || b[len(b)-1] != '\n') {
		b = append(b, '\n')
	}
	l.out.emit(lv, b)
	if cap(b) <= maxPooledBuf {
		*bp = b
		bufPool.Put(bp)
	}
}

// Noticef logs at info level ([INF]).
func (l *Logger) Noticef(format string, v ...any) { l.logf(lvlNotice, format, v) }

// Warnf logs at warning level ([WRN]).
func (l *Logger) Warnf(format string, v ...any) { l.logf(lvlWarn, format, v) }

// Errorf logs at error level ([ERR]).
func (l *Logger) Errorf(format string, v ...any) { l.logf(lvlError, format, v) }

// Fatalf logs at fatal level ([FTL]), closes the output so the line reaches
// disk, then exits the process with status 1.
func (l *Logger) Fatalf(format string, v ...any) {
	l.logf(lvlFatal, format, v)
	_ = l.Close()
	os.Exit(1)
}

// Debugf logs at debug level ([DBG]) when debug is on. When it is off the
// call is a single branch: the format is never looked at and nothing is
// allocated by the logger (boxing of the caller's arguments is the caller's).
func (l *Logger) Debugf(format string, v ...any) {
	if l.debug {
		l.logf(lvlDebug, format, v)
	}
}

// Tracef logs at trace level ([TRC]) when trace is on, with the same
// disabled-path cost as Debugf.
func (l *Logger) Tracef(format string, v ...any) {
	if l.trace {
		l.logf(lvlTrace, format, v)
	}
}

// Reopen closes and reopens a file logger's file by name, so that after an
// external tool renamed it (logrotate) new lines go to a fresh file with the
// configured name. For other loggers it does nothing.
func (l *Logger) Reopen() error { return l.out.reopen() }

// Close releases the logger's file or connection. Records logged after Close
// are dropped.
func (l *Logger) Close() error { return l.out.close() }
