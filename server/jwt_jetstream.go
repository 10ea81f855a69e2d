package server

import "github.com/nats-io/jwt/v2"

// An account JWT enables JetStream for its account when its limits give it
// memory or disk storage, directly or in a tier (a single server uses the
// R1 tier). The limits apply when the account is installed and on every
// update; an update that takes JetStream away leaves the account's streams
// in place with no storage left to grow into.

// applyJWTJetStream enables or updates JetStream for a JWT account.
func (s *Server) applyJWTJetStream(acc *Account, ac *jwt.AccountClaims) {
	js := s.js.Load()
	if js == nil || acc == s.SystemAccount() {
		return
	}
	l, enabled := jwtJetStreamLimits(ac)
	ja := js.lookupAccount(acc.Name)
	if ja == nil {
		if !enabled {
			js.answerDisabled(acc)
			return
		}
		js.stopAnsweringDisabled(acc)
		if err := js.enableAccount(acc); err != nil {
			s.Errorf("Error enabling JetStream for account %q: %v", acc.Name, err)
			return
		}
		ja = js.lookupAccount(acc.Name)
	}
	ja.limits.Store(&l)
}

// jwtJetStreamLimits converts the claims' JetStream limits. Counts and
// per-stream sizes of 0 mean no limit; storage of 0 means none.
func jwtJetStreamLimits(ac *jwt.AccountClaims) (JetStreamAccountLimits, bool) {
	jl, tier := ac.Limits.JetStreamLimits, ""
	if tl, ok := ac.Limits.JetStreamTieredLimits["R1"]; ok {
		jl, tier = tl, "R1"
	}
	enabled := ac.Limits.IsJSEnabled()
	unlimited := func(n int64) int64 {
		if n <= 0 {
			return -1
		}
		return n
	}
	return JetStreamAccountLimits{
		MaxMemory:            jl.MemoryStorage,
		MaxStore:             jl.DiskStorage,
		MaxStreams:           int(unlimited(jl.Streams)),
		MaxConsumers:         int(unlimited(jl.Consumer)),
		MaxAckPending:        int(unlimited(jl.MaxAckPending)),
		MemoryMaxStreamBytes: unlimited(jl.MemoryMaxStreamBytes),
		StoreMaxStreamBytes:  unlimited(jl.DiskMaxStreamBytes),
		MaxBytesRequired:     jl.MaxBytesRequired,
		tier:                 tier,
	}, enabled
}

// answerDisabled makes the API of an account without JetStream answer
// err 10039, as for the accounts found at start-up.
func (js *jetStream) answerDisabled(acc *Account) {
	js.mu.Lock()
	for _, ja := range js.disabled {
		if ja.acc == acc {
			js.mu.Unlock()
			return
		}
	}
	js.mu.Unlock()
	ja := &jsAccount{js: js, acc: acc, disabled: true}
	unsub, err := ja.subscribeAPI(jsAPIPrefix + ">")
	if err != nil {
		return
	}
	ja.unsub = unsub
	js.mu.Lock()
	js.disabled = append(js.disabled, ja)
	js.mu.Unlock()
}

// stopAnsweringDisabled removes that answer once the account gets JetStream.
func (js *jetStream) stopAnsweringDisabled(acc *Account) {
	js.mu.Lock()
	var found *jsAccount
	for i, ja := range js.disabled {
		if ja.acc == acc {
			found = ja
			js.disabled = append(js.disabled[:i], js.disabled[i+1:]...)
			break
		}
	}
	js.mu.Unlock()
	if found != nil && found.unsub != nil {
		found.unsub()
	}
}
