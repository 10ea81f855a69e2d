package test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

func TestJWTImportsExportsWithActivation(t *testing.T) {
	e := newJWTEnv(t)
	exp := e.account("E", func(ac *jwt.AccountClaims) {
		ac.Exports.Add(&jwt.Export{Subject: "news.>", Type: jwt.Stream})
		ac.Exports.Add(&jwt.Export{Subject: "svc", Type: jwt.Service, TokenReq: true})
	})
	imp := e.account("I", nil)
	act := jwt.NewActivationClaims(imp.pub)
	act.ImportSubject = "svc"
	act.ImportType = jwt.Service
	token, err := act.Encode(exp.kp)
	if err != nil {
		t.Fatal(err)
	}
	e.sign(imp, func(ac *jwt.AccountClaims) {
		ac.Imports.Add(&jwt.Import{Account: exp.pub, Subject: "news.>", Type: jwt.Stream})
		ac.Imports.Add(&jwt.Import{Account: exp.pub, Subject: "svc", Type: jwt.Service, Token: token})
		ac.Imports.Add(&jwt.Import{Account: exp.pub, Subject: "svc", LocalSubject: "nosvc", Type: jwt.Service})
	})
	s := e.run(e.fullConfig(""))
	sys := e.sysConn(s)
	for _, a := range []*jwtAccount{exp, imp} {
		sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", a.token)
	}
	eo, _, _ := e.user(exp, nil, nil)
	io, _, _ := e.user(imp, nil, nil)
	ncE := connect(t, s, eo)
	ncE.Subscribe("svc", func(m *nats.Msg) { m.Respond([]byte("served")) })
	ncE.Flush()
	ncI := connect(t, s, io)
	sub, _ := ncI.SubscribeSync("news.>")
	ncI.Flush()
	ncE.Publish("news.today", []byte("n"))
	if m, err := sub.NextMsg(2 * time.Second); err != nil || m.Subject != "news.today" {
		t.Fatalf("stream import: %v", err)
	}
	if m, err := ncI.Request("svc", nil, 2*time.Second); err != nil || string(m.Data) != "served" {
		t.Fatalf("service import with activation: %v", err)
	}
	// Without a token, the token-required export is not imported.
	if _, err := ncI.Request("nosvc", nil, 300*time.Millisecond); err == nil {
		t.Fatal("import without an activation token was wired")
	}
	// Revoking the activation in the exporter's claims unwires the import.
	e.sign(exp, func(ac *jwt.AccountClaims) {
		ac.Exports[1].RevokeAt(imp.pub, time.Now().Add(time.Minute))
	})
	if got := sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", exp.token); !strings.Contains(got, "jwt updated") {
		t.Fatalf("update: %s", got)
	}
	if _, err := ncI.Request("svc", nil, 300*time.Millisecond); err == nil {
		t.Fatal("revoked activation still imports")
	}
	// Stream imports survive the exporter's update.
	ncE.Publish("news.later", []byte("n"))
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("stream import after update: %v", err)
	}
}

// TestJWTActivationExpires: an import whose activation token expires stops
// working when it does.
func TestJWTActivationExpires(t *testing.T) {
	e := newJWTEnv(t)
	exp := e.account("E", func(ac *jwt.AccountClaims) {
		ac.Exports.Add(&jwt.Export{Subject: "svc", Type: jwt.Service, TokenReq: true})
	})
	imp := e.account("I", nil)
	act := jwt.NewActivationClaims(imp.pub)
	act.ImportSubject = "svc"
	act.ImportType = jwt.Service
	act.Expires = time.Now().Add(2 * time.Second).Unix()
	token, _ := act.Encode(exp.kp)
	e.sign(imp, func(ac *jwt.AccountClaims) {
		ac.Imports.Add(&jwt.Import{Account: exp.pub, Subject: "svc", Type: jwt.Service, Token: token})
	})
	s := e.run(e.memConfig(exp, imp))
	eo, _, _ := e.user(exp, nil, nil)
	ncE := connect(t, s, eo)
	ncE.Subscribe("svc", func(m *nats.Msg) { m.Respond([]byte("ok")) })
	ncE.Flush()
	io, _, _ := e.user(imp, nil, nil)
	ncI := connect(t, s, io)
	if _, err := ncI.Request("svc", nil, 2*time.Second); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	waitFor(t, 5*time.Second, "the import to expire", func() bool {
		_, err := ncI.Request("svc", nil, 100*time.Millisecond)
		return err != nil
	})
}
