package test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsforge/nats-server/server"
)

func TestJWTMemoryResolverCreds(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	s := e.run(e.memConfig(a))
	nc := connect(t, s, nats.UserCredentials(e.creds(a, nil)))
	sub, _ := nc.SubscribeSync("foo")
	nc.Flush()
	opt, _, _ := e.user(a, nil, nil)
	other := connect(t, s, opt)
	other.Publish("foo", []byte("hi"))
	other.Flush()
	if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "hi" {
		t.Fatalf("same account: %v %v", m, err)
	}
	// Accounts are isolated: a user of another account does not see it.
	b := e.account("B", nil)
	s2 := e.run(e.memConfig(a, b))
	ncA := connect(t, s2, nats.UserCredentials(e.creds(a, nil)))
	subA, _ := ncA.SubscribeSync("foo")
	ncA.Flush()
	ncB := connect(t, s2, nats.UserCredentials(e.creds(b, nil)))
	ncB.Publish("foo", []byte("x"))
	ncB.Flush()
	if _, err := subA.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("a message crossed accounts")
	}
}

func TestJWTUserRestrictions(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	stranger := newJWTEnv(t).account("X", nil) // issued by another operator
	s := e.run(e.memConfig(a))
	hour := func(d time.Duration) string { return time.Now().Add(d).Format("15:04:05") }
	cases := []struct {
		name string
		acc  *jwtAccount
		edit func(*jwt.UserClaims)
		ok   bool
	}{
		{"plain", a, nil, true},
		{"expired", a, func(u *jwt.UserClaims) { u.Expires = time.Now().Add(-time.Minute).Unix() }, false},
		{"websocket only", a, func(u *jwt.UserClaims) { u.AllowedConnectionTypes = jwt.StringList{"WEBSOCKET"} }, false},
		{"standard allowed", a, func(u *jwt.UserClaims) { u.AllowedConnectionTypes = jwt.StringList{"STANDARD"} }, true},
		{"other network", a, func(u *jwt.UserClaims) { u.Src = jwt.CIDRList{"10.0.0.0/8"} }, false},
		{"loopback network", a, func(u *jwt.UserClaims) { u.Src = jwt.CIDRList{"127.0.0.0/8"} }, true},
		{"outside times", a, func(u *jwt.UserClaims) {
			u.Times = []jwt.TimeRange{{Start: hour(2 * time.Hour), End: hour(3 * time.Hour)}}
		}, false},
		{"inside times", a, func(u *jwt.UserClaims) {
			u.Times = []jwt.TimeRange{{Start: hour(-time.Hour), End: hour(time.Hour)}}
		}, true},
		{"unknown account", newJWTEnv(t).account("Y", nil), nil, false},
		{"untrusted operator", stranger, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt, _, _ := e.user(tc.acc, nil, tc.edit)
			if tc.ok {
				connect(t, s, opt)
				return
			}
			mustFail(t, s, "Authorization Violation", opt)
		})
	}
}

func TestJWTNonceSignatureAndBearer(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	s := e.run(e.memConfig(a))
	_, token, _ := e.user(a, nil, nil)
	rc := dialRaw(t, s)
	if !strings.Contains(rc.info, `"nonce"`) {
		t.Fatalf("INFO has no nonce: %s", rc.info)
	}
	rc.send(`CONNECT {"jwt":"` + token + `","verbose":false}` + "\r\nPING\r\n")
	rc.expect("-ERR 'Authorization Violation'")
	rc = dialRaw(t, s)
	rc.send(`CONNECT {"jwt":"` + token + `","sig":"AAAA","verbose":false}` + "\r\nPING\r\n")
	rc.expect("-ERR 'Authorization Violation'")
	// A bearer token needs no signature.
	_, bearer, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.BearerToken = true })
	rc = dialRaw(t, s)
	rc.send(`CONNECT {"jwt":"` + bearer + `","verbose":false}` + "\r\nPING\r\n")
	rc.expect("PONG")
	rc = dialRaw(t, s)
	rc.send(`CONNECT {"user":"a","pass":"b","verbose":false}` + "\r\nPING\r\n")
	rc.expect("-ERR 'Authorization Violation'")
	// An account may refuse bearer tokens.
	nb := e.account("NB", func(ac *jwt.AccountClaims) { ac.Limits.DisallowBearer = true })
	s2 := e.run(e.memConfig(nb))
	_, bearer, _ = e.user(nb, nil, func(u *jwt.UserClaims) { u.BearerToken = true })
	rc = dialRaw(t, s2)
	rc.send(`CONNECT {"jwt":"` + bearer + `","verbose":false}` + "\r\nPING\r\n")
	rc.expect("-ERR 'Authorization Violation'")
}

func TestJWTUserExpiresWhileConnected(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	s := e.run(e.memConfig(a))
	opt, _, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.Expires = time.Now().Add(1500 * time.Millisecond).Unix() })
	ac := connectAsync(t, s, opt)
	ac.expectErr(t, "authentication expired", 4*time.Second)
	ac.expectClosed(t, 2*time.Second)
}

func TestJWTSigningKeysAndScopes(t *testing.T) {
	e := newJWTEnv(t)
	signer, _ := nkeys.CreateAccount()
	signerPub, _ := signer.PublicKey()
	scoped, _ := nkeys.CreateAccount()
	scopedPub, _ := scoped.PublicKey()
	a := e.account("A", func(ac *jwt.AccountClaims) {
		ac.SigningKeys.Add(signerPub)
		sc := jwt.NewUserScope()
		sc.Key = scopedPub
		sc.Template.Pub.Allow.Add("{{name()}}.>", "acct.{{account-name()}}")
		sc.Template.Sub.Allow.Add("_INBOX.>")
		ac.SigningKeys.AddScopedSigner(sc)
	})
	s := e.run(e.memConfig(a))
	opt, _, _ := e.user(a, signer, nil)
	connect(t, s, opt)
	unknown, _ := nkeys.CreateAccount()
	opt, _, _ = e.user(a, unknown, nil)
	mustFail(t, s, "Authorization Violation", opt)

	opt, _, _ = e.user(a, scoped, func(u *jwt.UserClaims) { u.SetScoped(true); u.Name = "bob" })
	ac := connectAsync(t, s, opt)
	if err := ac.nc.Publish("bob.x", nil); err != nil {
		t.Fatal(err)
	}
	ac.nc.Publish("acct.A", nil)
	ac.nc.Flush()
	select {
	case err := <-ac.errs:
		t.Fatalf("template permissions refused: %v", err)
	default:
	}
	ac.nc.Publish("alice.x", nil)
	ac.expectErr(t, `Permissions Violation for Publish to "alice.x"`, 2*time.Second)
	// A scoped key's users must not carry permissions of their own.
	opt, _, _ = e.user(a, scoped, func(u *jwt.UserClaims) { u.Pub.Allow.Add(">") })
	mustFail(t, s, "Authorization Violation", opt)
}

func TestJWTUserPermissionsAndLimits(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", func(ac *jwt.AccountClaims) { ac.DefaultPermissions.Pub.Deny.Add("secret.>") })
	s := e.run(e.memConfig(a))
	opt, _, _ := e.user(a, nil, func(u *jwt.UserClaims) {
		u.Pub.Allow.Add("foo")
		u.Limits.Subs = 1
		u.Limits.Payload = 10
	})
	ac := connectAsync(t, s, opt)
	ac.nc.Publish("bar", nil)
	ac.expectErr(t, `Permissions Violation for Publish to "bar"`, 2*time.Second)
	ac.nc.SubscribeSync("a")
	ac.nc.SubscribeSync("b")
	ac.expectErr(t, "maximum subscriptions exceeded", 2*time.Second)
	// The account's default permissions apply to users without their own.
	opt, _, _ = e.user(a, nil, nil)
	dc := connectAsync(t, s, opt)
	dc.nc.Publish("secret.x", nil)
	dc.expectErr(t, `Permissions Violation for Publish to "secret.x"`, 2*time.Second)
	// Payload over the user's limit closes the connection.
	rc := dialRaw(t, s)
	_, bearer, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.BearerToken = true; u.Limits.Payload = 10 })
	rc.send(`CONNECT {"jwt":"` + bearer + `","verbose":false}` + "\r\nPUB foo 11\r\n01234567890\r\n")
	rc.expect("-ERR 'Maximum Payload Violation'")
}

func TestJWTAccountConnectionLimit(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", func(ac *jwt.AccountClaims) { ac.Limits.Conn = 1 })
	s := e.run(e.memConfig(a))
	opt, _, _ := e.user(a, nil, nil)
	connect(t, s, opt)
	_, bearer, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.BearerToken = true })
	rc := dialRaw(t, s)
	rc.send(`CONNECT {"jwt":"` + bearer + `","verbose":false}` + "\r\nPING\r\n")
	rc.expect("-ERR 'maximum account active connections exceeded'")
}

func TestJWTRevokedUserRefused(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	opt, _, upub := e.user(a, nil, nil)
	e.sign(a, func(ac *jwt.AccountClaims) { ac.RevokeAt(upub, time.Now().Add(time.Minute)) })
	s := e.run(e.memConfig(a))
	mustFail(t, s, "Authorization Violation", opt)
}

func TestJWTConfigRefusals(t *testing.T) {
	e := newJWTEnv(t)
	base := e.memConfig()
	other, _ := nkeys.CreateAccount()
	otherPub, _ := other.PublicKey()
	cases := []struct{ extra, want string }{
		{"accounts { A { } }\n", "operators do not allow Accounts to be configured directly"},
		{"authorization { users [{user: a, password: b}] }\n", "operators do not allow users to be configured directly"},
		{"no_auth_user: foo\n", "no_auth_user not compatible with Trusted Operator"},
		{"authorization { auth_callout { issuer: " + otherPub + ", auth_users: [a] } }\n", "operators do not allow authorization callouts to be configured directly"},
		{"trusted_keys: [XXX]\n", `trust key "XXX" required to be a valid public operator nkey`},
	}
	for _, tc := range cases {
		if err := e.startErr(base + tc.extra); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: expected %q, got %v", tc.extra, tc.want, err)
		}
	}
	noSys := strings.Replace(base, "  "+e.sys.pub+": "+e.sys.token+"\n", "", 1)
	if err := e.startErr(noSys); err == nil || !strings.Contains(err.Error(), "error resolving system account: account missing") {
		t.Errorf("system account missing: %v", err)
	}
	wrongSys := strings.Replace(base, "system_account: "+e.sys.pub, "system_account: "+otherPub, 1)
	if err := e.startErr(wrongSys); err == nil || !strings.Contains(err.Error(), "system_account in config and operator JWT must be identical") {
		t.Errorf("system account mismatch: %v", err)
	}
	if err := e.startErr("operator: ./no-such-file.jwt\nresolver: MEMORY\n"); err == nil || !strings.Contains(err.Error(), "error parsing operator JWT") {
		t.Errorf("missing operator file: %v", err)
	}
	if err := e.startErr(strings.Replace(base, "resolver: MEMORY", "resolver: BLAH", 1)); err == nil || !strings.Contains(err.Error(), "error parsing account resolver") {
		t.Errorf("bad resolver: %v", err)
	}
}

// TestJWTOperatorFromFile loads the operator JWT from a file, as nsc
// writes it, and trusted_keys without an operator JWT.
func TestJWTOperatorFromFile(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	path := writeConf(t, e.dir, "op.jwt", e.opJWT)
	conf := strings.Replace(e.memConfig(a), "operator: "+e.opJWT, "operator: \""+path+"\"", 1)
	s := e.run(conf)
	connect(t, s, nats.UserCredentials(e.creds(a, nil)))
	host, _, _ := net.SplitHostPort(s.Addr().String())
	if host != "127.0.0.1" {
		t.Fatalf("listening on %s", host)
	}
}

// TestJWTMonitoring checks what /accountz and /varz show of operator mode,
// with the reference's fields.
func TestJWTMonitoring(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", func(ac *jwt.AccountClaims) {
		ac.Exports.Add(&jwt.Export{Subject: "svc", Type: jwt.Service})
	})
	e.extras = "http: 127.0.0.1:-1\n"
	s := e.run(e.memConfig(a))
	opt, _, _ := e.user(a, nil, nil)
	connect(t, s, opt)
	_, body, _ := get(t, "http://"+s.MonitorAddr().String()+"/accountz?acc="+a.pub)
	var az struct {
		Account struct {
			Jwt       string           `json:"jwt"`
			IssuerKey string           `json:"issuer_key"`
			NameTag   string           `json:"name_tag"`
			Claim     map[string]any   `json:"decoded_jwt"`
			Exports   []map[string]any `json:"exports"`
			Clients   int              `json:"client_connections"`
		} `json:"account_detail"`
	}
	if err := json.Unmarshal([]byte(body), &az); err != nil {
		t.Fatal(err)
	}
	ad := az.Account
	if ad.Jwt != a.token || ad.IssuerKey != e.opPub || ad.NameTag != "A" || ad.Claim["sub"] != a.pub || ad.Clients != 1 {
		t.Fatalf("accountz: %s", body)
	}
	if len(ad.Exports) != 1 || ad.Exports[0]["subject"] != "svc" || ad.Exports[0]["type"] != "service" {
		t.Fatalf("accountz exports: %v", ad.Exports)
	}
	_, body, _ = get(t, "http://"+s.MonitorAddr().String()+"/varz")
	var v struct {
		JWTs   []string         `json:"trusted_operators_jwt"`
		Claims []map[string]any `json:"trusted_operators_claim"`
	}
	json.Unmarshal([]byte(body), &v)
	if len(v.JWTs) != 1 || v.JWTs[0] != e.opJWT || len(v.Claims) != 1 || v.Claims[0]["sub"] != e.opPub {
		t.Fatalf("varz: %s", body)
	}
}

// TestJWTTrustedKeysMappingsAndReload: trusted_keys without an operator
// JWT, account mappings from the JWT applied and updated live, and a
// reload of an unchanged operator-mode config keeps clients connected.
func TestJWTTrustedKeysMappingsAndReload(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", func(ac *jwt.AccountClaims) {
		ac.AddMapping("orders", jwt.WeightedMapping{Subject: "orders.v1"})
	})
	conf := strings.Replace(e.memConfig(a), "operator: "+e.opJWT, "trusted_keys: ["+e.opPub+"]", 1)
	s := e.run(conf)
	opt, _, _ := e.user(a, nil, nil)
	nc := connect(t, s, opt)
	v1, _ := nc.SubscribeSync("orders.v1")
	v2, _ := nc.SubscribeSync("orders.v2")
	nc.Flush()
	nc.Publish("orders", nil)
	if _, err := v1.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("mapping from the JWT: %v", err)
	}
	e.sign(a, func(ac *jwt.AccountClaims) {
		ac.Mappings = jwt.Mapping{}
		ac.AddMapping("orders", jwt.WeightedMapping{Subject: "orders.v2"})
	})
	sys := e.sysConn(s)
	if got := sysRequest(t, sys, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", a.token); !strings.Contains(got, "jwt updated") {
		t.Fatalf("update: %s", got)
	}
	nc.Publish("orders", nil)
	if _, err := v2.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("updated mapping: %v", err)
	}
	if err := s.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := nc.Flush(); err != nil || !nc.IsConnected() {
		t.Fatalf("client lost by the reload: %v", err)
	}
}

// TestJWTWebsocketConnectionTypes: a user JWT limited to WEBSOCKET logs in
// over the websocket listener only, one limited to STANDARD only over TCP.
func TestJWTWebsocketConnectionTypes(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	e.extras = "websocket { listen: \"127.0.0.1:-1\", no_tls: true }\n"
	s := e.run(e.memConfig(a))
	wsOnly, _, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.AllowedConnectionTypes = jwt.StringList{"WEBSOCKET"} })
	tcpOnly, _, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.AllowedConnectionTypes = jwt.StringList{"STANDARD"} })
	ws := "ws://" + s.WebsocketAddr().String()
	nc, err := nats.Connect(ws, wsOnly)
	if err != nil {
		t.Fatalf("websocket user over websocket: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(ws, tcpOnly, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a STANDARD-only user logged in over websocket")
	}
	mustFail(t, s, "Authorization Violation", wsOnly)
	connect(t, s, tcpOnly)
}

// An operator JWT without a system account, and none configured: the
// reference starts (with a warning) and serves the preloaded accounts;
// nats.js's authenticator tests configure exactly that.
func TestJWTOperatorWithoutSystemAccount(t *testing.T) {
	e := newJWTEnv(t)
	oc := jwt.NewOperatorClaims(e.opPub)
	oc.Name = "O"
	var err error
	if e.opJWT, err = oc.Encode(e.op); err != nil {
		t.Fatal(err)
	}
	a := e.account("A", nil)
	conf := "listen: 127.0.0.1:-1\noperator: " + e.opJWT + "\nresolver: MEMORY\nresolver_preload: {\n  " + a.pub + ": " + a.token + "\n}\n"
	s := e.run(conf)
	nc := connect(t, s, nats.UserCredentials(e.creds(a, nil)))
	sub, _ := nc.SubscribeSync("foo")
	nc.Publish("foo", []byte("hi"))
	if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "hi" {
		t.Fatalf("account A without a system account: %v %v", m, err)
	}
}

// The connect advisory of a JWT user carries what the reference's does:
// the user JWT, the key that signed it, its tags, and the account's name
// as name_tag.
func TestJWTConnectEventClientInfo(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", nil)
	s := e.run(e.memConfig(acc))
	sys := e.sysConn(s)
	sub, err := sys.SubscribeSync("$SYS.ACCOUNT." + acc.pub + ".CONNECT")
	if err != nil {
		t.Fatal(err)
	}
	flushed(t, sys)
	opt, token, upub := e.user(acc, nil, func(uc *jwt.UserClaims) { uc.Tags.Add("t1", "t2") })
	connect(t, s, opt)
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev server.ConnectEventMsg
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	ci := ev.Client
	if ci.User != upub || ci.Jwt != token || ci.IssuerKey != acc.pub || ci.NameTag != "A" ||
		strings.Join(ci.Tags, ",") != "t1,t2" || ci.Account != acc.pub {
		t.Fatalf("client info %+v", ci)
	}
	// /connz with auth=1 shows the same.
	cz, err := s.Connz(&server.ConnzOptions{Username: true, Account: acc.pub})
	if err != nil || len(cz.Conns) != 1 {
		t.Fatalf("connz: %v %+v", err, cz)
	}
	if c := cz.Conns[0]; c.AuthorizedUser != upub || c.Jwt != token || c.IssuerKey != acc.pub ||
		c.NameTag != "A" || strings.Join(c.Tags, ",") != "t1,t2" {
		t.Fatalf("connz entry %+v", c)
	}
}
