package test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// claimsAnswer is the reference's answer to a claims request.
type claimsAnswer struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Account     string `json:"account"`
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

func decodeClaimsAnswer(t *testing.T, s string) claimsAnswer {
	t.Helper()
	var a claimsAnswer
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return a
}

func TestJWTFullResolverRequests(t *testing.T) {
	e := newJWTEnv(t)
	s := e.run(e.fullConfig(""))
	sys := e.sysConn(s) // the bare system account, before its JWT is pushed
	a := e.account("A", nil)
	opt, _, _ := e.user(a, nil, nil)
	mustFail(t, s, "Authorization Violation", opt)

	got := sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", a.token)
	if !strings.Contains(got, `"data":{"account":"`+a.pub+`","code":200,"message":"jwt updated"}`) {
		t.Fatalf("update: %s", got)
	}
	user := connectAsync(t, s, opt)
	if b, err := os.ReadFile(filepath.Join(e.dir, "jwt", a.pub+".jwt")); err != nil || string(b) != a.token {
		t.Fatalf("stored JWT: %v", err)
	}
	if got := sysRequest(t, sys, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.LOOKUP", ""); got != a.token {
		t.Fatalf("lookup: %s", got)
	}
	// An account the store lacks: an empty answer, as the reference's.
	if got := sysRequest(t, sys, "$SYS.REQ.ACCOUNT."+e.account("X", nil).pub+".CLAIMS.LOOKUP", ""); got != "" {
		t.Fatalf("lookup of an unknown account: %q", got)
	}
	got = sysRequest(t, sys, "$SYS.REQ.CLAIMS.LIST", "")
	if !strings.HasPrefix(got, `{"data":["`+a.pub+`"],"server":{`) {
		t.Fatalf("list: %s", got)
	}
	ans := decodeClaimsAnswer(t, sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", "garbage"))
	if ans.Error == nil || ans.Error.Account != "n/a" || ans.Error.Code != 500 ||
		ans.Error.Description != "jwt update resulted in error - expected 3 chunks" {
		t.Fatalf("garbage update: %+v", ans.Error)
	}
	ans = decodeClaimsAnswer(t, sysRequest(t, sys, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", e.sys.token))
	if ans.Error == nil || ans.Error.Description != "jwt update resulted in error - subject does not match jwt content" {
		t.Fatalf("mismatched update: %+v", ans.Error)
	}
	untrusted := newJWTEnv(t).account("X", nil)
	ans = decodeClaimsAnswer(t, sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", untrusted.token))
	if ans.Error == nil {
		t.Fatal("an account of another operator was stored")
	}

	ans = decodeClaimsAnswer(t, sysRequest(t, sys, "$SYS.REQ.CLAIMS.DELETE", a.token))
	if ans.Error == nil || ans.Error.Description != "delete accounts request by "+a.pub+" failed - not self signed" {
		t.Fatalf("delete signed by an account: %+v", ans.Error)
	}
	del := jwt.NewGenericClaims(e.opPub)
	del.Data["accounts"] = []string{a.pub}
	token, _ := del.Encode(e.op)
	got = sysRequest(t, sys, "$SYS.REQ.CLAIMS.DELETE", token)
	if !strings.Contains(got, `"data":{"code":200,"message":"deleted 1 accounts"}`) {
		t.Fatalf("delete: %s", got)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "jwt", a.pub+".jwt.deleted")); err != nil {
		t.Fatalf("deleted JWT not kept aside: %v", err)
	}
	if got := sysRequest(t, sys, "$SYS.REQ.CLAIMS.LIST", ""); !strings.HasPrefix(got, `{"data":[],`) {
		t.Fatalf("list after delete: %s", got)
	}
	// The deleted account's users are disconnected and cannot come back.
	user.expectErr(t, "account authentication expired", 2*time.Second)
	user.expectClosed(t, 2*time.Second)
	mustFail(t, s, "Authorization Violation", opt)
}

func TestJWTFullResolverDeleteNeedsAllowDelete(t *testing.T) {
	e := newJWTEnv(t)
	s := e.run(strings.Replace(e.fullConfig(""), "allow_delete: true", "allow_delete: false", 1))
	sys := e.sysConn(s)
	del := jwt.NewGenericClaims(e.opPub)
	del.Data["accounts"] = []string{e.sys.pub}
	token, _ := del.Encode(e.op)
	ans := decodeClaimsAnswer(t, sysRequest(t, sys, "$SYS.REQ.CLAIMS.DELETE", token))
	if ans.Error == nil || ans.Error.Description != "delete accounts request by "+e.opPub+" failed - delete must be enabled in server config" {
		t.Fatalf("delete without allow_delete: %+v", ans.Error)
	}
	ans = decodeClaimsAnswer(t, sysRequest(t, sys, "$SYS.REQ.CLAIMS.DELETE", "garbage"))
	if ans.Error == nil || ans.Error.Description != "delete accounts request by  failed - expected 3 chunks" {
		t.Fatalf("garbage delete: %+v", ans.Error)
	}
}

func TestJWTLiveClaimUpdates(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	s := e.run(e.fullConfig(""))
	sys := e.sysConn(s)
	push := func() {
		t.Helper()
		if got := sysRequest(t, sys, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", a.token); !strings.Contains(got, "jwt updated") {
			t.Fatalf("push: %s", got)
		}
	}
	push()
	opt, _, upub := e.user(a, nil, nil)
	victim := connectAsync(t, s, opt)
	opt2, _, _ := e.user(a, nil, nil)
	stays := connectAsync(t, s, opt2)

	// Limits lowered reach open connections.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.Limits.Subs = 1 })
	push()
	stays.nc.SubscribeSync("x")
	stays.nc.SubscribeSync("y")
	stays.expectErr(t, "maximum subscriptions exceeded", 2*time.Second)

	// Default permissions added reach users without their own.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.DefaultPermissions.Pub.Deny.Add("forbidden") })
	push()
	stays.nc.Publish("forbidden", nil)
	stays.expectErr(t, `Permissions Violation for Publish to "forbidden"`, 2*time.Second)

	// A revoked user is disconnected; the others stay.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.RevokeAt(upub, time.Now().Add(time.Minute)) })
	push()
	victim.expectErr(t, "authentication revoked", 2*time.Second)
	victim.expectClosed(t, 2*time.Second)
	if !stays.nc.IsConnected() {
		t.Fatal("a user that was not revoked was disconnected")
	}

	// An account that expires disconnects its users.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.Expires = time.Now().Add(1500 * time.Millisecond).Unix() })
	push()
	stays.expectErr(t, "account authentication expired", 4*time.Second)
	stays.expectClosed(t, 2*time.Second)
}

func TestJWTAccountConnLimitLowered(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	s := e.run(e.fullConfig(""))
	sys := e.sysConn(s)
	sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", a.token)
	opt, _, _ := e.user(a, nil, nil)
	first := connectAsync(t, s, opt)
	second := connectAsync(t, s, opt)
	e.sign(a, func(ac *jwt.AccountClaims) { ac.Limits.Conn = 1 })
	sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", a.token)
	second.expectClosed(t, 2*time.Second)
	if err := second.nc.LastError(); err == nil || !strings.Contains(err.Error(), "maximum account active connections exceeded") {
		t.Fatalf("closed with %v", err)
	}
	if !first.nc.IsConnected() {
		t.Fatal("the older connection was closed")
	}
}

func TestJWTMemoryResolverUpdates(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	s := e.run(e.memConfig(a))
	sys := e.sysConn(s)
	subj := "$SYS.REQ.ACCOUNT." + a.pub + ".CLAIMS.UPDATE"
	e.sign(a, nil)
	if got := sysRequest(t, sys, subj, a.token); !strings.Contains(got, `"message":"jwt update skipped"`) {
		t.Fatalf("update of an account not in use: %s", got)
	}
	opt, _, _ := e.user(a, nil, nil)
	ac := connectAsync(t, s, opt)
	e.sign(a, func(c *jwt.AccountClaims) { c.DefaultPermissions.Sub.Deny.Add("nope") })
	if got := sysRequest(t, sys, subj, a.token); !strings.Contains(got, `"message":"jwt updated"`) {
		t.Fatalf("update: %s", got)
	}
	ac.nc.SubscribeSync("nope")
	ac.expectErr(t, `Permissions Violation for Subscription to "nope"`, 2*time.Second)
}

func TestJWTURLResolver(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	release := make(chan struct{})
	slow := e.account("SLOW", nil)
	hits := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pub := strings.TrimPrefix(r.URL.Path, "/jwt/v1/accounts/")
		hits <- pub
		switch pub {
		case a.pub:
			w.Write([]byte(a.token))
		case e.sys.pub:
			w.Write([]byte(e.sys.token))
		case slow.pub:
			<-release
			w.Write([]byte(slow.token))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(release)
	conf := strings.Replace(e.memConfig(), "resolver: MEMORY", "resolver: URL("+srv.URL+"/jwt/v1/accounts/)", 1)
	s := e.run(conf)
	opt, _, _ := e.user(a, nil, nil)
	nc := connect(t, s, opt)
	sub, _ := nc.SubscribeSync("ping")
	nc.Flush()
	mustFail(t, s, "Authorization Violation", func() nats.Option { o, _, _ := e.user(e.account("Z", nil), nil, nil); return o }())

	// A lookup that hangs holds up only its own connection.
	slowOpt, _, _ := e.user(slow, nil, nil)
	go func() {
		if c, err := nats.Connect(s.ClientURL(), slowOpt, nats.Timeout(5*time.Second)); err == nil {
			c.Close()
		}
	}()
	waitFor(t, 2*time.Second, "the slow lookup", func() bool {
		for {
			select {
			case pub := <-hits:
				if pub == slow.pub {
					return true
				}
			default:
				return false
			}
		}
	})
	other := connect(t, s, opt)
	other.Publish("ping", []byte("1"))
	other.Flush()
	if _, err := sub.NextMsg(time.Second); err != nil {
		t.Fatalf("traffic stalled behind a lookup: %v", err)
	}
}
