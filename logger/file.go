package logger

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// backupLayout names rotated files "<logfile>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn"
// in local time, as the reference does; the fixed width keeps lexical order
// equal to age order, which purging relies on.
const backupLayout = "2006.01.02.15.04.05.000000000"

// logFileMode matches the reference: logs may hold client addresses, so
// they are not world-readable.
const logFileMode = 0o640

// NewFileLogger returns a Logger appending to filename (created if needed).
// With SizeLimit the file is rotated once a write takes it past the limit:
// it is renamed to filename + "." + local time in backupLayout, a new file
// is started whose first line is
//
//	[INF] Rotated log, backup saved as "<backup name>"
//
// and, with MaxNumFiles(n), the oldest backups are deleted so that at most
// n-1 remain beside the live file, each deletion logged as
//
//	[INF] Purged log file "<backup base name>"
func NewFileLogger(filename string, time, debug, trace, pid bool, opts ...Option) (*Logger, error) {
	o := buildOptions(opts)
	if o.maxNum < 0 {
		return nil, fmt.Errorf("logger: invalid max number of log files %d", o.maxNum)
	}
	l := &Logger{
		debug: debug, trace: trace,
		decorate: true, withTime: time, utc: o.utc,
		pid: pidPrefix(pid), labels: &plainLabels,
	}
	fo := &fileOutput{name: filename, limit: o.limit, maxNum: o.maxNum, l: l}
	if err := fo.open(); err != nil {
		return nil, err
	}
	l.out = fo
	return l, nil
}

// fileOutput owns the log file. Everything below mu is guarded by it.
type fileOutput struct {
	name   string
	limit  int64
	maxNum int
	l      *Logger // for the format of the lines rotation writes itself

	mu        sync.Mutex
	f         *os.File
	size      int64
	threshold int64 // size past which to rotate; grows after a failed rotation
	closed    bool
	// lastRotate keeps backup names unique and increasing.
	lastRotate time.Time
}

// open (re)opens the file by name; callers hold mu or own fo exclusively.
func (fo *fileOutput) open() error {
	f, err := os.OpenFile(fo.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return fmt.Errorf("logger: unable to open log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("logger: unable to stat log file: %w", err)
	}
	fo.f, fo.size, fo.threshold = f, fi.Size(), fo.limit
	return nil
}

func (fo *fileOutput) emit(_ level, b []byte) {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.closed || fo.f == nil {
		return
	}
	n, _ := fo.f.Write(b)
	fo.size += int64(n)
	if fo.limit > 0 && fo.size > fo.threshold {
		fo.rotate()
	}
}

// rotate runs with mu held. On failure it keeps writing to the current file
// and retries only after another limit's worth of bytes, so a read-only
// directory does not turn every log call into a failed rename.
func (fo *fileOutput) rotate() {
	now := time.Now()
	if !now.After(fo.lastRotate) {
		// Coarse clocks (Windows) could repeat a name and overwrite a backup.
		now = fo.lastRotate.Add(time.Nanosecond)
	}
	fo.lastRotate = now
	backup := fo.name + "." + now.Format(backupLayout)
	if err := os.Rename(fo.name, backup); err != nil {
		fo.threshold = fo.size + fo.limit
		fo.writeLine(lvlError, fmt.Sprintf("Unable to rotate log file: %v", err))
		return
	}
	old := fo.f
	if err := fo.open(); err != nil {
		// Keep the renamed file rather than losing every later line.
		fo.threshold = fo.size + fo.limit
		fo.writeLine(lvlError, fmt.Sprintf("Unable to open new log file after rotation: %v", err))
		return
	}
	old.Close()
	fo.writeLine(lvlNotice, fmt.Sprintf("Rotated log, backup saved as %q", backup))
	if fo.maxNum > 0 {
		fo.purge()
	}
}

// writeLine formats one of the logger's own lines like any other record and
// writes it without re-entering rotation.
func (fo *fileOutput) writeLine(lv level, msg string) {
	l := fo.l
	b := []byte(l.pid)
	if l.withTime {
		now := time.Now()
		if l.utc {
			now = now.UTC()
		}
		b = now.AppendFormat(b, timeLayout)
		b = append(b, ' ')
	}
	b = append(b, l.labels[lv]...)
	b = append(b, msg...)
	b = append(b, '\n')
	n, _ := fo.f.Write(b)
	fo.size += int64(n)
}

// purge deletes the oldest backups beyond maxNum-1; runs with mu held.
func (fo *fileOutput) purge() {
	backups, err := fo.backups()
	if err != nil {
		fo.writeLine(lvlError, fmt.Sprintf("Unable to list log files for purging: %v", err))
		return
	}
	keep := fo.maxNum - 1
	for i := 0; i < len(backups)-keep; i++ {
		base := backups[i]
		if err := os.Remove(filepath.Join(filepath.Dir(fo.name), base)); err != nil {
			fo.writeLine(lvlError, fmt.Sprintf("Unable to purge log file %q: %v", base, err))
			continue
		}
		fo.writeLine(lvlNotice, fmt.Sprintf("Purged log file %q", base))
	}
}

// backups lists the base names of this log's rotated files, oldest first.
func (fo *fileOutput) backups() ([]string, error) {
	entries, err := os.ReadDir(filepath.Dir(fo.name))
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(fo.name) + "."
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, prefix) && isBackupSuffix(n[len(prefix):]) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// isBackupSuffix reports whether s is a backupLayout timestamp, so purging
// never deletes unrelated files such as "nats.log.gz" kept by an operator.
func isBackupSuffix(s string) bool {
	if len(s) != len(backupLayout) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if backupLayout[i] == '.' {
			if s[i] != '.' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (fo *fileOutput) reopen() error {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.closed {
		return fmt.Errorf("logger: reopen of closed log file %q", fo.name)
	}
	old := fo.f
	if err := fo.open(); err != nil {
		return err
	}
	return old.Close()
}

func (fo *fileOutput) close() error {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.closed {
		return nil
	}
	fo.closed = true
	return fo.f.Close()
}
