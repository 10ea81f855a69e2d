package server

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// churnSubjects builds the bench tool's sub-churn subject space for one
// account: subscriptions alternately literal churn.<c>.<i> and wildcard
// churn.<c>.*.w<i>, and publish subjects drawn at random from the same space.
func churnSubjects(conns, cycles, pubs int) (subs [][]string, pool []string) {
	subject := func(c, i int, mid string) string {
		if i%2 == 0 {
			return "churn." + strconv.Itoa(c) + "." + strconv.Itoa(i)
		}
		return "churn." + strconv.Itoa(c) + "." + mid + ".w" + strconv.Itoa(i)
	}
	subs = make([][]string, conns)
	for c := range subs {
		for i := 0; i < cycles; i++ {
			subs[c] = append(subs[c], subject(c, i, "*"))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range pubs {
		pool = append(pool, subject(rng.IntN(conns), rng.IntN(cycles), strconv.Itoa(rng.IntN(1000))))
	}
	return subs, pool
}

// BenchmarkSublistChurn is one SUB/UNSUB cycle (insert a subscription,
// remove the one from 100 cycles before) plus two matches of random
// subjects, against an index whose match cache is full of such subjects:
// the cost of selective invalidation.
func BenchmarkSublistChurn(b *testing.B) {
	const conns, cycles, live = 10, 5000, 100
	subjects, pool := churnSubjects(conns, cycles, 1<<16)
	sl := NewSublist()
	for _, p := range pool[:4*slCacheMax] {
		sl.Match(p)
	}
	subs := make([]*subscription, 0, conns*cycles)
	for i := 0; i < cycles; i++ {
		for c := 0; c < conns; c++ {
			subs = append(subs, newSub(subjects[c][i], ""))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(subs)
		if err := sl.Insert(subs[k]); err != nil {
			b.Fatal(err)
		}
		old := k - live*conns
		if old < 0 {
			old += len(subs)
		}
		_ = sl.Remove(subs[old])
		sl.Match(pool[(2*i)&(len(pool)-1)])
		sl.Match(pool[(2*i+1)&(len(pool)-1)])
	}
}
