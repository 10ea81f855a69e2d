package server

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"testing"
)

// storeModel is the obviously correct reference the stores are compared to.
type storeModel struct {
	msgs map[uint64]storeModelMsg
	last uint64
}

type storeModelMsg struct {
	subj string
	data []byte
}

func (m *storeModel) first() uint64 {
	f := m.last + 1
	for s := range m.msgs {
		f = min(f, s)
	}
	return f
}

func (m *storeModel) deleteIf(fn func(seq uint64, mm storeModelMsg) bool) uint64 {
	var n uint64
	for s, mm := range m.msgs {
		if fn(s, mm) {
			delete(m.msgs, s)
			n++
		}
	}
	return n
}

func storeCompareModel(t *testing.T, step int, st StreamStore, m *storeModel) {
	t.Helper()
	var s StreamState
	st.FastState(&s)
	if s.Msgs != uint64(len(m.msgs)) || s.LastSeq != m.last || s.FirstSeq != m.first() {
		t.Fatalf("step %d: state msgs=%d first=%d last=%d, model msgs=%d first=%d last=%d",
			step, s.Msgs, s.FirstSeq, s.LastSeq, len(m.msgs), m.first(), m.last)
	}
	var sm StoreMsg
	for seq := s.FirstSeq; seq <= s.LastSeq; seq++ {
		mm, ok := m.msgs[seq]
		got, err := st.LoadMsg(seq, &sm)
		if !ok {
			if !errors.Is(err, ErrStoreMsgNotFound) {
				t.Fatalf("step %d: seq %d should be gone: %v", step, seq, err)
			}
			continue
		}
		if err != nil || got.Subject != mm.subj || !bytes.Equal(got.Msg, mm.data) {
			t.Fatalf("step %d: seq %d = %v, want %q %q", step, seq, err, mm.subj, mm.data)
		}
	}
	lastBy := map[string]uint64{}
	for seq, mm := range m.msgs {
		lastBy[mm.subj] = max(lastBy[mm.subj], seq)
	}
	for subj, want := range lastBy {
		got, err := st.LoadLastMsg(subj, &sm)
		if err != nil || got.Seq != want {
			t.Fatalf("step %d: last for %s = %v, want %d", step, subj, err, want)
		}
	}
	tot := st.SubjectsTotals(">")
	if len(tot) != len(lastBy) {
		t.Fatalf("step %d: %d subjects, model %d", step, len(tot), len(lastBy))
	}
}

func TestStorePropertyRandomOps(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		for round := 0; round < storePropRounds; round++ {
			seed := int64(round*7919 + 1 + storePropSeedBase)
			rng := rand.New(rand.NewSource(seed))
			st := k.open(t, &StreamConfig{Name: "P"})
			m := &storeModel{msgs: map[uint64]storeModelMsg{}}
			for step := 0; step < storePropSteps; step++ {
				storeRandomOp(t, rng, k, &st, m, step)
				if step%25 == 0 || step == storePropSteps-1 {
					storeCompareModel(t, step, st, m)
				}
			}
			st.Stop()
		}
	})
}

func storeLiveSeqs(m *storeModel) []uint64 {
	seqs := make([]uint64, 0, len(m.msgs))
	for s := range m.msgs {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs
}

func storeRandomOp(t *testing.T, rng *rand.Rand, k storeKind, stp *StreamStore, m *storeModel, step int) {
	st := *stp
	op := rng.Intn(100)
	if storePropTrace {
		var ss StreamState
		st.FastState(&ss)
		t.Logf("step %d op %d state first=%d last=%d msgs=%d", step, op, ss.FirstSeq, ss.LastSeq, ss.Msgs)
	}
	switch {
	case op < 60:
		subj := fmt.Sprintf("p.%d", rng.Intn(6))
		data := bytes.Repeat([]byte{byte(step)}, rng.Intn(300))
		seq := storeMust(t, st, subj, nil, data)
		m.last = seq
		m.msgs[seq] = storeModelMsg{subj, data}
	case op < 75:
		seqs := storeLiveSeqs(m)
		if len(seqs) == 0 {
			return
		}
		seq := seqs[rng.Intn(len(seqs))]
		var ok bool
		var err error
		if rng.Intn(4) == 0 {
			ok, err = st.EraseMsg(seq)
		} else {
			ok, err = st.RemoveMsg(seq)
		}
		if !ok || err != nil {
			t.Fatalf("step %d: remove %d: %v %v", step, seq, ok, err)
		}
		delete(m.msgs, seq)
	case op < 80:
		subj := fmt.Sprintf("p.%d", rng.Intn(6))
		keep := uint64(rng.Intn(3))
		var victims []uint64
		for _, s := range storeLiveSeqs(m) {
			if m.msgs[s].subj == subj {
				victims = append(victims, s)
			}
		}
		if uint64(len(victims)) > keep {
			victims = victims[:uint64(len(victims))-keep]
		} else {
			victims = nil
		}
		n, err := st.PurgeEx(subj, 0, keep)
		if err != nil || n != uint64(len(victims)) {
			t.Fatalf("step %d: purge %s keep %d = %d %v want %d", step, subj, keep, n, err, len(victims))
		}
		for _, v := range victims {
			delete(m.msgs, v)
		}
	case op < 85:
		seq := m.first() + uint64(rng.Intn(10))
		want := m.deleteIf(func(s uint64, _ storeModelMsg) bool { return s < seq })
		n, err := st.Compact(seq)
		if err != nil || n != want {
			t.Fatalf("step %d: compact %d = %d %v want %d", step, seq, n, err, want)
		}
		if seq > m.last+1 {
			m.last = seq - 1
		}
	case op < 89:
		if m.last < 5 {
			return
		}
		seq := m.last - uint64(rng.Intn(5))
		if seq+1 < m.first() {
			return
		}
		if err := st.Truncate(seq); err != nil {
			t.Fatalf("step %d: truncate %d: %v", step, seq, err)
		}
		m.deleteIf(func(s uint64, _ storeModelMsg) bool { return s > seq })
		m.last = seq
	case op < 91:
		want := uint64(len(m.msgs))
		if n, err := st.Purge(); err != nil || n != want {
			t.Fatalf("step %d: purge = %d %v want %d", step, n, err, want)
		}
		m.msgs = map[uint64]storeModelMsg{}
	default:
		*stp = storeRestart(t, k, st)
		storeCompareModel(t, step, *stp, m)
	}
}

// Raised locally to hunt for bugs; kept small so the suite stays fast.
var storePropRounds, storePropSteps = 3, 400

var storePropSeedBase = 0

var storePropTrace = false
