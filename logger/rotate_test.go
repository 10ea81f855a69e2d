package logger

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var backupRe = regexp.MustCompile(`^nats\.log\.\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{9}$`)

func listBackups(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() == "nats.log" {
			continue
		}
		if !backupRe.MatchString(e.Name()) {
			t.Fatalf("unexpected file %q", e.Name())
		}
		out = append(out, e.Name())
	}
	return out
}

func TestRotationBySizeKeepsEveryLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.log")
	const limit = 300
	l, err := NewFileLogger(path, false, false, false, false, SizeLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 0; i < n; i++ {
		l.Noticef("message number %03d", i) // 30 bytes a line
	}
	l.Close()
	backups := listBackups(t, dir)
	if len(backups) < 5 {
		t.Fatalf("only %d backups for %d bytes with limit %d", len(backups), n*30, limit)
	}
	next := 0
	for i, name := range append(backups, "nats.log") {
		lines := readLines(t, filepath.Join(dir, name))
		if i > 0 {
			want := fmt.Sprintf("[INF] Rotated log, backup saved as %q", filepath.Join(dir, backups[i-1]))
			if lines[0] != want {
				t.Fatalf("%s starts with %q, want %q", name, lines[0], want)
			}
			lines = lines[1:]
		}
		if name != "nats.log" {
			fi, _ := os.Stat(filepath.Join(dir, name))
			// Rotation happens after the write that passes the limit.
			if fi.Size() <= limit || fi.Size() > limit+30 {
				t.Fatalf("%s has %d bytes, want just over %d", name, fi.Size(), limit)
			}
		}
		for _, line := range lines {
			if want := fmt.Sprintf("[INF] message number %03d", next); line != want {
				t.Fatalf("%s: got %q, want %q", name, line, want)
			}
			next++
		}
	}
	if next != n {
		t.Fatalf("found %d messages, want %d", next, n)
	}
}

func TestRotationLimitIsExclusive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.log")
	l, err := NewFileLogger(path, false, false, false, false, SizeLimit(60))
	if err != nil {
		t.Fatal(err)
	}
	l.Noticef("message number %03d", 1)
	l.Noticef("message number %03d", 2) // exactly 60 bytes: no rotation yet
	if b := listBackups(t, dir); len(b) != 0 {
		t.Fatalf("rotated at exactly the limit: %q", b)
	}
	l.Noticef("message number %03d", 3)
	if b := listBackups(t, dir); len(b) != 1 {
		t.Fatalf("want one backup after passing the limit, got %q", b)
	}
	l.Close()
}

func TestRotationBoundsFileCount(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.log")
	// A file an operator keeps must survive purging.
	keep := filepath.Join(dir, "nats.log.gz")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := NewFileLogger(path, true, true, false, true, SizeLimit(200), MaxNumFiles(3))
	if err != nil {
		t.Fatal(err)
	}
	var purged []string
	purgeRe := regexp.MustCompile(`\[INF\] Purged log file "(nats\.log\.[0-9.]+)"$`)
	for i := 0; i < 60; i++ {
		l.Debugf("debug line %d", i)
		if len(listBackupsExcept(t, dir, "nats.log.gz")) > 2 {
			t.Fatalf("more than 2 backups after line %d", i)
		}
	}
	l.Close()
	os.Remove(keep)
	backups := listBackups(t, dir)
	if len(backups) != 2 {
		t.Fatalf("want 2 backups beside the live file, got %q", backups)
	}
	for _, name := range append(backups, "nats.log") {
		for _, line := range readLines(t, filepath.Join(dir, name)) {
			if m := purgeRe.FindStringSubmatch(line); m != nil {
				purged = append(purged, m[1])
			}
		}
	}
	if len(purged) == 0 {
		t.Fatal("no Purged log file lines found")
	}
	for _, p := range purged {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Fatalf("purged file %s still exists", p)
		}
		if p >= backups[0] {
			t.Fatalf("purged %s is not older than kept %s", p, backups[0])
		}
	}
}

func listBackupsExcept(t *testing.T, dir, except string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() != "nats.log" && e.Name() != except {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestRotationFailureKeepsLogging(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.log")
	l, err := NewFileLogger(path, false, false, false, false, SizeLimit(40))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// With the live file gone the rename fails; logging must carry on.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		l.Noticef("message number %03d", i)
	}
	if b := listBackupsExcept(t, dir, ""); len(b) != 0 {
		t.Fatalf("unexpected files %q", b)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Noticef("message number %03d", 5)
	l.Noticef("message number %03d", 6)
	b := listBackups(t, dir)
	if len(b) != 1 {
		t.Fatalf("rotation did not resume after Reopen: %q", b)
	}
	got := strings.Join(readLines(t, filepath.Join(dir, b[0])), "|")
	if got != "[INF] message number 005|[INF] message number 006" {
		t.Fatalf("backup holds %q", got)
	}
}
