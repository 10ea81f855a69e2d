package test

import (
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// In operator mode, jwt_cookie carries a bearer user JWT for browsers, and
// a user JWT's allowed connection types are checked against WEBSOCKET.
func TestWebsocketJWTCookie(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	e.extras = "websocket { listen: \"127.0.0.1:-1\", no_tls: true, jwt_cookie: natsjwt }\n"
	s := e.run(e.memConfig(a))
	_, bearer, _ := e.user(a, nil, func(u *jwt.UserClaims) { u.BearerToken = true })
	if !wsLogin(t, s, `{"verbose":false}`, "natsjwt="+bearer) {
		t.Fatal("bearer JWT in the cookie refused")
	}
	if wsLogin(t, s, `{"verbose":false}`, "") {
		t.Fatal("no credentials accepted in operator mode")
	}
	_, plainOnly, _ := e.user(a, nil, func(u *jwt.UserClaims) {
		u.BearerToken = true
		u.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeStandard}
	})
	if wsLogin(t, s, `{"verbose":false}`, "natsjwt="+plainOnly) {
		t.Fatal("a STANDARD-only user logged in over websocket")
	}
	wsOnly, _, _ := e.user(a, nil, func(u *jwt.UserClaims) {
		u.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeWebsocket}
	})
	nc := wsConnect(t, wsURL(s), wsOnly)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := nats.Connect(s.ClientURL(), wsOnly); err == nil {
		t.Fatal("a WEBSOCKET-only user logged in over plain TCP")
	}
}
