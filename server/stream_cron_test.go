package server

import (
	"testing"
	"time"
)

func TestSchedulePatternNext(t *testing.T) {
	base := time.Date(2026, 1, 31, 10, 20, 30, 500, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database")
	}
	for _, tc := range []struct {
		pattern string
		loc     *time.Location
		want    string
	}{
		{"@every 1s", time.UTC, "2026-01-31T10:20:31Z"},
		{"@every 1m30s", time.UTC, "2026-01-31T10:22:00Z"},
		{"@at 2026-02-01T00:00:00Z", time.UTC, "2026-02-01T00:00:00Z"},
		{"@at 2020-01-01T00:00:00Z", time.UTC, "0001-01-01T00:00:00Z"},
		{"@hourly", time.UTC, "2026-01-31T11:00:00Z"},
		{"@daily", time.UTC, "2026-02-01T00:00:00Z"},
		{"@monthly", time.UTC, "2026-02-01T00:00:00Z"},
		{"@yearly", time.UTC, "2027-01-01T00:00:00Z"},
		{"@weekly", time.UTC, "2026-02-01T00:00:00Z"}, // a Sunday
		{"*/15 * * * * *", time.UTC, "2026-01-31T10:20:45Z"},
		{"0 0 9-17 * * mon-fri", time.UTC, "2026-02-02T09:00:00Z"},
		{"0 30 8 29 2 *", time.UTC, "2028-02-29T08:30:00Z"},
		{"0 0 0 1 jan,jul *", time.UTC, "2026-07-01T00:00:00Z"},
		{"0 0 12 * * *", paris, "2026-01-31T11:00:00Z"},
		{"0 0 0 30 2 *", time.UTC, "0001-01-01T00:00:00Z"},
	} {
		p, err := parseSchedulePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		got := p.nextAfter(base, tc.loc)
		if got.UTC().Format(time.RFC3339) != tc.want {
			t.Fatalf("%q: next %s, want %s", tc.pattern, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
	for _, bad := range []string{"", "bogus", "@every 500ms", "@every x", "@at tomorrow", "0 0 * * *",
		"60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *", "* * * * * 7", "*/0 * * * * *",
		"5-1 * * * * *", "@every", "* * * * * * *"} {
		if _, err := parseSchedulePattern(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// FuzzSchedulePattern: any header value parses or is refused, without a
// panic, and a parsed pattern's next time is after its start or zero.
func FuzzSchedulePattern(f *testing.F) {
	for _, s := range []string{"@every 1s", "@at 2026-01-01T00:00:00Z", "*/5 1-3,7 * * jan-mar mon", "@hourly", "0 0 0 31 2 *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseSchedulePattern(s)
		if err != nil {
			return
		}
		now := time.Date(2026, 5, 17, 3, 4, 5, 0, time.UTC)
		if next := p.nextAfter(now, time.UTC); !next.IsZero() && !next.After(now) && p.kind != scheduleAt {
			t.Fatalf("%q: next %v not after %v", s, next, now)
		}
	})
}

// FuzzBatchHeaders: the batch headers of any header block parse or are
// refused with one of the reference's errors.
func FuzzBatchHeaders(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nNats-Batch-Id: a\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: eob\r\n\r\n"))
	f.Add([]byte("NATS/1.0\r\nNats-Batch-Sequence: 18446744073709551616\r\n\r\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		bh, bad := parseBatchHeaders(hdr)
		switch bad {
		case "":
			if bh.seq == 0 || (bh.hasCommit && bh.commit != "1" && bh.commit != "eob") {
				t.Fatalf("accepted %+v", bh)
			}
		case jsAtomicMissingSeq, jsAtomicInvalidCommit:
		default:
			t.Fatalf("unexpected error %q", bad)
		}
		_ = deleteHeader(hdr, jsRequiredAPILevelHeader)
	})
}

func TestBatchScheduleErrorsInCatalogue(t *testing.T) {
	for _, id := range []string{jsAtomicDisabled, jsAtomicMissingSeq, jsAtomicIncomplete, jsAtomicUnsupportedHdr,
		jsAtomicInvalidID, jsAtomicTooLarge, jsAtomicInvalidCommit, jsAtomicDuplicateMsgID, jsAtomicTooManyInfl,
		jsWrongLastSeqConst, jsSchedulesDisabled, jsSchedulesPattern, jsSchedulesTarget, jsSchedulesSource,
		jsSchedulesTTL, jsSchedulesRollup, jsSchedulesScheduler, jsSchedulesTimeZone, jsMessageTTLDisabled} {
		if !JSErrorKnown(id) {
			t.Fatalf("%s is not in the catalogue", id)
		}
	}
}
