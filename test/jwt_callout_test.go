package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsforge/nats-server/server"
)

// calloutService answers authorization requests: alice/pw is mapped to
// account APP and may publish to "app.>" only; everyone else is refused.
func calloutService(t *testing.T, s *server.Server, issuer, xkey nkeys.KeyPair) {
	t.Helper()
	nc := connect(t, s, nats.UserInfo("auth", "pw"))
	_, err := nc.Subscribe("$SYS.REQ.USER.AUTH", func(m *nats.Msg) {
		data := m.Data
		serverX := m.Header.Get("Nats-Server-Xkey")
		if xkey != nil {
			var err error
			if data, err = xkey.Open(data, serverX); err != nil {
				t.Errorf("request not sealed to the service: %v", err)
				return
			}
		}
		req, err := jwt.DecodeAuthorizationRequestClaims(string(data))
		if err != nil {
			t.Errorf("request: %v", err)
			return
		}
		resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
		resp.Audience = req.Server.ID
		co := req.ConnectOptions
		if co.Username == "alice" && co.Password == "pw" {
			uc := jwt.NewUserClaims(req.UserNkey)
			uc.Name = "alice"
			uc.Audience = "APP"
			uc.Pub.Allow.Add("app.>")
			uc.Sub.Allow.Add("app.>", "_INBOX.>")
			resp.Jwt, _ = uc.Encode(issuer)
		} else {
			// An error refuses the user, whatever else the answer carries.
			resp.Error = "no such user"
			uc := jwt.NewUserClaims(req.UserNkey)
			uc.Audience = "APP"
			resp.Jwt, _ = uc.Encode(issuer)
		}
		token, _ := resp.Encode(issuer)
		out := []byte(token)
		if xkey != nil {
			out, _ = xkey.Seal(out, serverX)
		}
		m.Respond(out)
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
}

func calloutConf(t *testing.T, issuerPub, xkeyPub string) string {
	xkey := ""
	if xkeyPub != "" {
		xkey = "xkey: " + xkeyPub
	}
	return fmt.Sprintf(`listen: 127.0.0.1:-1
accounts {
  AUTH { users: [ {user: auth, password: pw} ] }
  APP {}
}
authorization {
  auth_callout {
    issuer: %s
    auth_users: [ auth ]
    account: AUTH
    %s
  }
}
`, issuerPub, xkey)
}

func runCallout(t *testing.T, withXKey bool) *server.Server {
	issuer, _ := nkeys.CreateAccount()
	issuerPub, _ := issuer.PublicKey()
	var xkey nkeys.KeyPair
	xpub := ""
	if withXKey {
		xkey, _ = nkeys.CreateCurveKeys()
		xpub, _ = xkey.PublicKey()
	}
	s := runConfigServer(t, writeConf(t, t.TempDir(), "c.conf", calloutConf(t, issuerPub, xpub)))
	calloutService(t, s, issuer, xkey)
	return s
}

func TestAuthCalloutAllowDenyMap(t *testing.T) {
	for _, withXKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("xkey=%v", withXKey), func(t *testing.T) {
			s := runCallout(t, withXKey)
			mustFail(t, s, "Authorization Violation", nats.UserInfo("bob", "pw"))
			mustFail(t, s, "Authorization Violation", nats.UserInfo("alice", "wrong"))
			alice := connectAsync(t, s, nats.UserInfo("alice", "pw"))
			other := connect(t, s, nats.UserInfo("alice", "pw"))
			sub, _ := other.SubscribeSync("app.x")
			other.Flush()
			alice.nc.Publish("app.x", []byte("hi"))
			if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "hi" {
				t.Fatalf("mapped users do not share APP: %v", err)
			}
			alice.nc.Publish("other", nil)
			alice.expectErr(t, `Permissions Violation for Publish to "other"`, 2*time.Second)
			// Users of the callout account itself are not asked about.
			auth := connect(t, s, nats.UserInfo("auth", "pw"))
			if !auth.IsConnected() {
				t.Fatal("auth user refused")
			}
		})
	}
}

func TestAuthCalloutConfigChecks(t *testing.T) {
	issuer, _ := nkeys.CreateAccount()
	issuerPub, _ := issuer.PublicKey()
	dir := t.TempDir()
	bad := strings.Replace(calloutConf(t, issuerPub, ""), "auth_users: [ auth ]", "auth_users: [ nobody ]", 1)
	o, err := server.ProcessConfigFile(writeConf(t, dir, "b.conf", bad))
	if err == nil {
		_, err = server.NewServer(o)
	}
	if err == nil || !strings.Contains(err.Error(), `auth user "nobody" is not a configured user`) {
		t.Fatalf("unknown auth user: %v", err)
	}
	bad = strings.Replace(calloutConf(t, issuerPub, ""), "issuer: "+issuerPub, "issuer: XYZ", 1)
	if _, err := server.ProcessConfigFile(writeConf(t, dir, "c.conf", bad)); err == nil {
		t.Fatal("an issuer that is not an account key was accepted")
	}
}

// TestAuthCalloutOperatorMode: account AUTH delegates to its service; a
// sentinel user of AUTH (not an auth user) reaches the service, which maps
// alice into account APP with its own key.
func TestAuthCalloutOperatorMode(t *testing.T) {
	e := newJWTEnv(t)
	app := e.account("APP", nil)
	svcKP, _ := nkeys.CreateUser()
	svcPub, _ := svcKP.PublicKey()
	xkey, _ := nkeys.CreateCurveKeys()
	xpub, _ := xkey.PublicKey()
	auth := e.account("AUTH", func(ac *jwt.AccountClaims) {
		ac.Authorization.AuthUsers.Add(svcPub)
		ac.Authorization.AllowedAccounts.Add(app.pub)
		ac.Authorization.XKey = xpub
	})
	s := e.run(e.memConfig(app, auth))

	// The service connects as its auth user, bypassing the callout.
	svcSeed, _ := svcKP.Seed()
	svcClaims := jwt.NewUserClaims(svcPub)
	svcJWT, _ := svcClaims.Encode(auth.kp)
	svc := connect(t, s, nats.UserJWTAndSeed(svcJWT, string(svcSeed)))
	svc.Subscribe("$SYS.REQ.USER.AUTH", func(m *nats.Msg) {
		data, err := xkey.Open(m.Data, m.Header.Get("Nats-Server-Xkey"))
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		req, _ := jwt.DecodeAuthorizationRequestClaims(string(data))
		resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
		resp.Audience = req.Server.ID
		switch req.ConnectOptions.Username {
		case "alice":
			uc := jwt.NewUserClaims(req.UserNkey)
			uc.Pub.Allow.Add("app.>")
			resp.Jwt, _ = uc.Encode(app.kp)
		case "mallory": // into an account AUTH may not map to
			uc := jwt.NewUserClaims(req.UserNkey)
			resp.Jwt, _ = uc.Encode(e.sys.kp)
		default:
			resp.Error = "denied"
		}
		token, _ := resp.Encode(auth.kp)
		sealed, _ := xkey.Seal([]byte(token), m.Header.Get("Nats-Server-Xkey"))
		m.Respond(sealed)
	})
	svc.Flush()

	_, sentinel, _ := e.user(auth, nil, func(u *jwt.UserClaims) {
		u.BearerToken = true
		u.Pub.Deny.Add(">")
		u.Sub.Deny.Add(">")
	})
	withSentinel := func(user string) []nats.Option {
		return []nats.Option{nats.UserJWT(func() (string, error) { return sentinel, nil },
			func([]byte) ([]byte, error) { return nil, nil }), nats.UserInfo(user, "pw")}
	}
	mustFail(t, s, "Authorization Violation", withSentinel("bob")...)
	mustFail(t, s, "Authorization Violation", withSentinel("mallory")...)
	alice := connectAsync(t, s, withSentinel("alice")...)
	appUser, _, _ := e.user(app, nil, nil)
	watcher := connect(t, s, appUser)
	sub, _ := watcher.SubscribeSync("app.x")
	watcher.Flush()
	alice.nc.Publish("app.x", []byte("hi"))
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("alice was not mapped into APP: %v", err)
	}
	alice.nc.Publish("other", nil)
	alice.expectErr(t, `Permissions Violation for Publish to "other"`, 2*time.Second)
}

// calloutMapper answers every authorization request by binding the user to
// the account its user name maps to (the audience of the user JWT).
func calloutMapper(t *testing.T, s *server.Server, issuer nkeys.KeyPair, accounts map[string]string) {
	t.Helper()
	nc := connect(t, s, nats.UserInfo("auth", "pw"))
	_, err := nc.Subscribe("$SYS.REQ.USER.AUTH", func(m *nats.Msg) {
		req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
		if err != nil {
			t.Errorf("request: %v", err)
			return
		}
		resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
		resp.Audience = req.Server.ID
		uc := jwt.NewUserClaims(req.UserNkey)
		uc.Audience = accounts[req.ConnectOptions.Username]
		resp.Jwt, _ = uc.Encode(issuer)
		token, _ := resp.Encode(issuer)
		m.Respond([]byte(token))
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
}

// TestAuthCalloutAllowedAccounts: as the reference, allowed_accounts must
// name configured accounts, but does not restrict where the service maps a
// user (observed on v2.15.2: a user mapped to an account outside the list
// is accepted); an answer naming no account, or one that does not exist,
// is refused with the reference's log lines.
func TestAuthCalloutAllowedAccounts(t *testing.T) {
	issuer, _ := nkeys.CreateAccount()
	issuerPub, _ := issuer.PublicKey()
	dir := t.TempDir()
	conf := strings.Replace(calloutConf(t, issuerPub, ""), "APP {}", "APP {}\n  OTHER {}", 1)
	conf = strings.Replace(conf, "account: AUTH", "account: AUTH\n    allowed_accounts: [ APP ]", 1)
	o, err := server.ProcessConfigFile(writeConf(t, dir, "c.conf", conf))
	if err != nil {
		t.Fatal(err)
	}
	s, logs := runLoggedServer(t, o)
	calloutMapper(t, s, issuer, map[string]string{"alice": "APP", "bob": "OTHER", "dave": "$G", "frank": "NOPE"})

	alice := connect(t, s, nats.UserInfo("alice", "x"))
	bob := connect(t, s, nats.UserInfo("bob", "x"))
	connect(t, s, nats.UserInfo("dave", "x"))
	aliceSub, _ := alice.SubscribeSync("x")
	bobSub, _ := bob.SubscribeSync("x")
	alice.Flush()
	bob.Flush()
	bob.Publish("x", []byte("in OTHER"))
	if m, err := bobSub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "in OTHER" {
		t.Fatalf("bob not served in OTHER: %v", err)
	}
	if _, err := aliceSub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("bob (OTHER) and alice (APP) share an account")
	}

	for _, user := range []string{"carol", "frank"} {
		mustFail(t, s, "Authorization Violation", nats.UserInfo(user, "x"))
		logs.waitLog(t, "[ERR]", fmt.Sprintf(`authentication error - User %q`, user))
	}
	logs.waitLog(t, "[WRN]", `No valid account "" for auth callout response on account "AUTH": account missing`)
	logs.waitLog(t, "[WRN]", `No valid account "NOPE" for auth callout response on account "AUTH": account missing`)

	for _, bad := range []string{"NOPE", `"$G"`, `"*"`} {
		c := strings.Replace(conf, "allowed_accounts: [ APP ]", "allowed_accounts: [ APP, "+bad+" ]", 1)
		o, err := server.ProcessConfigFile(writeConf(t, dir, "bad.conf", c))
		if err == nil {
			_, err = server.NewServer(o)
		}
		want := fmt.Sprintf("auth_callout allowed account %q not found in configured accounts", strings.Trim(bad, `"`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("allowed_accounts with %s: %v, want %q", bad, err, want)
		}
	}
}
