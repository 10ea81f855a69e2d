package server

import (
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// fuzzSeedUserJWT is a user JWT with every restriction a client can send,
// signed by a throwaway account (no expiry).
func fuzzSeedUserJWT(f *testing.F) (string, *jwt.AccountClaims) {
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "n"
	uc.Tags.Add("team:a")
	uc.Pub.Allow.Add("{{name()}}.>", "{{tag(team)}}.x")
	uc.Sub.Deny.Add("q *")
	uc.Resp = &jwt.ResponsePermission{MaxMsgs: 2}
	uc.Src = jwt.CIDRList{"127.0.0.0/8", "10.0.0.0/8,::1/128"}
	uc.Times = []jwt.TimeRange{{Start: "01:00:00", End: "00:30:00"}}
	uc.Locale = "UTC"
	token, err := uc.Encode(akp)
	if err != nil {
		f.Fatal(err)
	}
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "A"
	return token, ac
}

// FuzzUserJWT feeds CONNECT's jwt and sig fields through everything the
// server does with them before trusting a user: decoding, templates,
// networks, time windows, permissions and the nonce signature.
func FuzzUserJWT(f *testing.F) {
	token, ac := fuzzSeedUserJWT(f)
	f.Add(token, "c2ln")
	f.Add("eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.", "")
	f.Add("garbage", "AAAA")
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, token, sig string) {
		verifyNonce("UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nonce", sig)
		uc, err := jwt.DecodeUserClaims(token)
		if err != nil {
			return
		}
		verifyNonce(uc.Subject, "nonce", sig)
		upl := &uc.UserPermissionLimits
		if tpl, err := expandUserTemplate(*upl, uc, ac); err == nil {
			compilePermissions(jwtPermissions(&tpl.Permissions))
		}
		compilePermissions(jwtPermissions(&upl.Permissions))
		sourceAllowed(upl.Src, "127.0.0.1")
		connectWindowEnd(upl.Times, upl.Locale, now)
		allowsClientTypes(upl.AllowedConnectionTypes, ConnectionTypeStandard)
	})
}

// FuzzAccountClaimsUpdate feeds a pushed account JWT (the body of
// $SYS.REQ.CLAIMS.UPDATE) through its verification.
func FuzzAccountClaimsUpdate(f *testing.F) {
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Exports.Add(&jwt.Export{Subject: "svc.>", Type: jwt.Service, TokenReq: true})
	ac.Limits.Conn = 3
	token, _ := ac.Encode(okp)
	f.Add(token)
	f.Add("a.b.c")
	s := &Server{jwt: &jwtState{trusted: map[string]bool{opub: true}}}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := s.checkClaimUpdate("", token)
		if err == nil && got == nil {
			t.Fatal("no claims and no error")
		}
	})
}

// FuzzClaimsPackMerge feeds a message of another server's pack (the answer
// to $SYS.REQ.CLAIMS.PACK: `<pub>|<jwt>` lines, or empty) through the
// merge into a directory store: nothing but a valid, trusted JWT for the
// named account may be stored.
func FuzzClaimsPackMerge(f *testing.F) {
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	token, _ := jwt.NewAccountClaims(apub).Encode(okp)
	f.Add(apub + "|" + token)
	f.Add(apub + "|" + token + "\n" + apub + "|x.y.z")
	f.Add("")
	f.Add("|")
	s := &Server{jwt: &jwtState{trusted: map[string]bool{opub: true}}}
	f.Fuzz(func(t *testing.T, msg string) {
		r, err := newDirResolver(ResolverOpts{Type: ResolverFull, Dir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cl := &resolverCluster{s: s, r: r}
		cl.merge(msg)
		for _, pub := range r.list() {
			stored, _ := r.stored(pub)
			if _, err := s.checkClaimUpdate(pub, stored); err != nil {
				t.Fatalf("stored an invalid JWT for %s: %v", pub, err)
			}
		}
	})
}

// FuzzRemoteConns feeds another server's account connection count, as a
// system account user could publish it, through the decoder and the
// counts it updates: no panic, no negative count, totals that add up.
func FuzzRemoteConns(f *testing.F) {
	f.Add([]byte(`{"type":"io.nats.server.advisory.v1.account_connections","server":{"name":"s1","id":"NB"},"acc":"AX","conns":2,"leafnodes":1,"total_conns":3}`))
	f.Add([]byte(`{"server":{"id":"NB"},"acc":"AX","conns":-7,"leafnodes":3}`))
	f.Add([]byte(`{"server":{"id":""},"acc":"AX","conns":1}`))
	f.Add([]byte(`{"server":{"id":"NB"},"acc":"AX","conns":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		acc, id, conns, leafs, ok := decodeRemoteConns(msg)
		if !ok {
			return
		}
		if acc == "" || id == "" || conns < 0 || leafs < 0 || conns > maxRemoteCount || leafs > maxRemoteCount {
			t.Fatalf("decoded %q %q %d %d", acc, id, conns, leafs)
		}
		var r remoteConns
		r.set(acc, id, conns, leafs)
		r.set(acc, id+"2", 1, 0)
		gotC, gotL := r.totals(acc)
		if gotC != conns+1 || gotL != leafs {
			t.Fatalf("totals %d %d after %d %d", gotC, gotL, conns, leafs)
		}
		r.forget(id)
		r.forget(id + "2")
		if c, l := r.totals(acc); c != 0 || l != 0 || len(r.byAcc) != 0 {
			t.Fatalf("forgotten servers still count: %d %d %v", c, l, r.byAcc)
		}
	})
}
