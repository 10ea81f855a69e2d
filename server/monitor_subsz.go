package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Subsz is the /subsz answer: subject index statistics and, with subs=1,
// a page of subscriptions.
type Subsz struct {
	ID  string    `json:"server_id"`
	Now time.Time `json:"now"`
	*SublistStats
	Total  int         `json:"total"`
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Subs   []SubDetail `json:"subscriptions_list,omitempty"`
}

// SubszOptions are the /subsz query options.
type SubszOptions struct {
	Offset        int
	Limit         int
	Subscriptions bool
	Account       string
	Test          string // only subscriptions a publish to this subject would match
}

// DefaultSubListSize is the default /subsz page size.
const DefaultSubListSize = 1024

func parseSubszOptions(r *http.Request) (*SubszOptions, error) {
	q := r.URL.Query()
	o := &SubszOptions{Account: q.Get("acc"), Test: q.Get("test")}
	var err error
	if o.Subscriptions, err = queryBool(r, "subs"); err != nil {
		return nil, err
	}
	if o.Offset, err = queryInt(r, "offset", 0); err != nil {
		return nil, err
	}
	if o.Limit, err = queryInt(r, "limit", 0); err != nil {
		return nil, err
	}
	if o.Test != "" && !IsValidLiteralSubject(o.Test) {
		return nil, fmt.Errorf("invalid test subject, must be valid publish subject: %s", o.Test)
	}
	return o, nil
}

// Subsz returns index statistics over all accounts, or the named one, and
// with opts.Subscriptions the matching subscriptions ordered by account,
// then connection, then sid.
func (s *Server) Subsz(opts *SubszOptions) *Subsz {
	if opts == nil {
		opts = &SubszOptions{}
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultSubListSize
	}
	var accs []*Account
	for _, a := range s.sortedAccounts() {
		if opts.Account == "" || a.Name == opts.Account {
			accs = append(accs, a)
		}
	}
	sz := &Subsz{ID: s.info.ID, Now: time.Now().UTC(), SublistStats: aggregateStats(accs), Limit: limit}
	if !opts.Subscriptions {
		return sz
	}
	var all []SubDetail
	var subs []*subscription
	for _, a := range accs {
		subs = a.sl.All(subs[:0])
		for _, sub := range subs {
			if opts.Test != "" && !SubjectMatchesFilter(opts.Test, sub.subject) {
				continue
			}
			all = append(all, sub.detail(a.Name))
		}
	}
	slices.SortStableFunc(all, func(a, b SubDetail) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Cid, b.Cid),
			cmp.Compare(len(a.Sid), len(b.Sid)), cmp.Compare(a.Sid, b.Sid))
	})
	sz.Total = len(all)
	lo, hi := pageBounds(opts.Offset, limit, len(all))
	sz.Offset = lo
	sz.Subs = all[lo:hi]
	return sz
}

func (sub *subscription) detail(acc string) SubDetail {
	d := SubDetail{Account: acc, AccountTag: acc, Subject: sub.subject, Queue: sub.queue,
		Sid: sub.sid, Msgs: sub.nm.Load(), Max: sub.max.Load()}
	if sub.client != nil {
		d.Cid = sub.client.cid
	}
	return d
}

// aggregateStats sums the index statistics of accs. Rates and averages are
// recombined from each account's counts, weighted by matches and cache size.
func aggregateStats(accs []*Account) *SublistStats {
	st := &SublistStats{}
	var hits, fanout float64
	for _, a := range accs {
		x := a.sl.Stats()
		st.NumSubs += x.NumSubs
		st.NumCache += x.NumCache
		st.NumInserts += x.NumInserts
		st.NumRemoves += x.NumRemoves
		st.NumMatches += x.NumMatches
		hits += x.CacheHitRate * float64(x.NumMatches)
		fanout += x.AvgFanout * float64(x.NumCache)
		st.MaxFanout = max(st.MaxFanout, x.MaxFanout)
	}
	if st.NumMatches > 0 {
		st.CacheHitRate = hits / float64(st.NumMatches)
	}
	if st.NumCache > 0 {
		st.AvgFanout = fanout / float64(st.NumCache)
	}
	return st
}

func (s *Server) handleSubsz(w http.ResponseWriter, r *http.Request) {
	opts, err := parseSubszOptions(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, s.Subsz(opts))
}
