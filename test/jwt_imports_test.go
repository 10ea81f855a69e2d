package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
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

// TestJWTAccountImportExportLimits: an account JWT with more imports or
// exports than its limits, or wildcard exports it may not have, is invalid,
// as the reference has it: warned about at start-up, its users refused.
// The same JWTs within their limits serve.
func TestJWTAccountImportExportLimits(t *testing.T) {
	e := newJWTEnv(t)
	exp := e.account("EXP", func(ac *jwt.AccountClaims) {
		ac.Exports.Add(&jwt.Export{Subject: "svc.>", Type: jwt.Stream})
	})
	importing := func(max int64) func(*jwt.AccountClaims) {
		return func(ac *jwt.AccountClaims) {
			ac.Limits.Imports = max
			ac.Imports.Add(&jwt.Import{Account: exp.pub, Subject: "svc.>", Type: jwt.Stream})
		}
	}
	exporting := func(max int64, wildcards bool, subject string) func(*jwt.AccountClaims) {
		return func(ac *jwt.AccountClaims) {
			ac.Limits.Exports, ac.Limits.WildcardExports = max, wildcards
			ac.Exports.Add(&jwt.Export{Subject: jwt.Subject(subject), Type: jwt.Stream})
		}
	}
	imp0, imp1 := e.account("IMP0", importing(0)), e.account("IMP1", importing(1))
	exp0, exp1 := e.account("EXP0", exporting(0, true, "a.b")), e.account("EXP1", exporting(1, true, "a.b"))
	wc, wcOK := e.account("WC", exporting(5, false, "a.*")), e.account("WCOK", exporting(5, true, "a.*"))
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "s.conf", e.memConfig(exp, imp0, imp1, exp0, exp1, wc, wcOK)))
	if err != nil {
		t.Fatal(err)
	}
	s, logs := runLoggedServer(t, o)
	for _, c := range []struct {
		acc   *jwtAccount
		issue string
	}{
		{imp0, "the account contains more imports than allowed by the operator"},
		{exp0, "the account contains more exports than allowed by the operator"},
		{wc, "the account contains wildcard exports that are not allowed by the operator"},
	} {
		logs.waitLog(t, "[WRN]", "Account ["+c.acc.pub+"] has validation issues:")
		logs.waitLog(t, "[WRN]", "  - "+c.issue)
		opt, _, _ := e.user(c.acc, nil, nil)
		mustFail(t, s, "Authorization Violation", opt)
	}
	logs.waitLog(t, "[DBG]", "Account JWT lookup error: account validation failed")
	for _, ok := range []*jwtAccount{exp1, wcOK} {
		if logs.find("Account ["+ok.pub+"]") != "" {
			t.Fatalf("account %s within its limits warned about", ok.claims.Name)
		}
		opt, _, _ := e.user(ok, nil, nil)
		connect(t, s, opt)
	}
	opt, _, _ := e.user(imp1, nil, nil)
	nc := connect(t, s, opt)
	sub, _ := nc.SubscribeSync("svc.x")
	nc.Flush()
	popt, _, _ := e.user(exp, nil, nil)
	pub := connect(t, s, popt)
	pub.Publish("svc.x", []byte("hi"))
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("import within its limit not delivered: %v", err)
	}
}

// TestJWTDataLimitNotEnforced: the reference (v2.15.2) does not enforce the
// user's nor the account's limits.data: a client sending past it stays
// connected and its messages are delivered. So neither do we.
func TestJWTDataLimitNotEnforced(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("DATA", func(ac *jwt.AccountClaims) { ac.Limits.Data = 100 })
	s := e.run(e.memConfig(acc))
	opt, _, _ := e.user(acc, nil, func(uc *jwt.UserClaims) { uc.Limits.Data = 100 })
	ac := connectAsync(t, s, opt)
	sub, _ := ac.nc.SubscribeSync("d")
	for i := 0; i < 10; i++ {
		ac.nc.Publish("d", make([]byte, 50))
	}
	for i := 0; i < 10; i++ {
		if _, err := sub.NextMsg(2 * time.Second); err != nil {
			t.Fatalf("message %d past the data limit not delivered: %v", i, err)
		}
	}
	if err := ac.nc.Flush(); err != nil || len(ac.errs) > 0 {
		t.Fatalf("connection troubled past the data limit: %v, %d errors", err, len(ac.errs))
	}
}

// TestJWTPushOverLimits: the full resolver refuses a pushed account JWT with
// more imports than its limit, with the reference's answer and log line;
// the MEMORY resolver skips it when the account is not in use, as the
// reference does.
func TestJWTPushOverLimits(t *testing.T) {
	e := newJWTEnv(t)
	imp := e.account("IMP", func(ac *jwt.AccountClaims) {
		ac.Limits.Imports = 0
		ac.Imports.Add(&jwt.Import{Account: e.sys.pub, Subject: "svc.>", Type: jwt.Stream})
	})
	conf := e.fullConfig("") + fmt.Sprintf("resolver_preload: { %s: %s }\n", e.sys.pub, e.sys.token)
	o, err := server.ProcessConfigFile(writeConf(t, e.dir, "full.conf", conf))
	if err != nil {
		t.Fatal(err)
	}
	s, logs := runLoggedServer(t, o)
	issues := "validation errors: [the account contains more imports than allowed by the operator the account contains more imports than allowed by the operator]"
	ans := decodeClaimsAnswer(t, sysRequest(t, e.sysConn(s), "$SYS.REQ.CLAIMS.UPDATE", imp.token))
	if ans.Error == nil || ans.Error.Code != 500 || ans.Error.Account != imp.pub ||
		ans.Error.Description != "jwt validation failed - "+issues {
		t.Fatalf("push over the imports limit: %+v", ans.Error)
	}
	logs.waitLog(t, "[ERR]", "jwt validation failed - "+imp.pub+" - "+issues)
	if _, err := os.Stat(filepath.Join(e.dir, "jwt", imp.pub+".jwt")); err == nil {
		t.Fatal("the invalid JWT was stored")
	}

	mem := e.run(e.memConfig())
	got := sysRequest(t, e.sysConn(mem), "$SYS.REQ.ACCOUNT."+imp.pub+".CLAIMS.UPDATE", imp.token)
	if !strings.Contains(got, `"message":"jwt update skipped"`) {
		t.Fatalf("MEMORY update of an account not in use: %s", got)
	}
}
