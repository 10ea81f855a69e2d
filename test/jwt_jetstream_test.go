package test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go/jetstream"
)

func TestJWTJetStreamLimits(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", func(ac *jwt.AccountClaims) {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{DiskStorage: 1 << 20, Streams: 1}
	})
	b := e.account("B", nil)
	e.extras = "jetstream { store_dir: " + `"` + strings.ReplaceAll(t.TempDir(), `\`, `/`) + `"` + " }\n"
	s := e.run(e.fullConfig(""))
	sys := e.sysConn(s)
	for _, acc := range []*jwtAccount{a, b} {
		sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", acc.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opt, _, _ := e.user(a, nil, nil)
	js, _ := jetstream.New(connect(t, s, opt))
	info, err := js.AccountInfo(ctx)
	if err != nil || info.Limits.MaxStore != 1<<20 || info.Limits.MaxStreams != 1 || info.Limits.MaxMemory != 0 {
		t.Fatalf("account info: %+v %v", info, err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S1", Subjects: []string{"s1"}}); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S2", Subjects: []string{"s2"}})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10027 {
		t.Fatalf("second stream: %v", err)
	}
	// Raised by an update, the limit applies at once.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.Limits.JetStreamLimits.Streams = 2 })
	sysRequest(t, sys, "$SYS.REQ.CLAIMS.UPDATE", a.token)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S2", Subjects: []string{"s2"}}); err != nil {
		t.Fatalf("stream after the update: %v", err)
	}
	// An account whose JWT gives no storage has no JetStream.
	optB, _, _ := e.user(b, nil, nil)
	jsB, _ := jetstream.New(connect(t, s, optB))
	if _, err := jsB.AccountInfo(ctx); !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		t.Fatalf("account without JetStream: %v", err)
	}
}

// Tiered JWT limits: the R1 tier applies on a single server, and
// $JS.API.INFO shows it under tiers with its usage, the account-wide limits
// as zeros, as the reference does (nats.js "jsm - account limits").
func TestJWTJetStreamTieredLimits(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", func(ac *jwt.AccountClaims) {
		ac.Limits.JetStreamTieredLimits = jwt.JetStreamTieredLimits{"R1": {DiskStorage: 1 << 20, Consumer: -1, Streams: 1}}
	})
	e.extras = "jetstream { store_dir: " + `"` + strings.ReplaceAll(t.TempDir(), `\`, `/`) + `"` + " }\n"
	s := e.run(e.fullConfig(""))
	sysRequest(t, e.sysConn(s), "$SYS.REQ.CLAIMS.UPDATE", a.token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opt, _, _ := e.user(a, nil, nil)
	js, _ := jetstream.New(connect(t, s, opt))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S1", Subjects: []string{"s1"}}); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r1, ok := info.Tiers["R1"]
	if info.Limits != (jetstream.AccountLimits{}) || !ok || r1.Limits.MaxStore != 1<<20 || r1.Limits.MaxStreams != 1 ||
		r1.Limits.MaxConsumers != -1 || r1.Limits.MaxAckPending != -1 || r1.Streams != 1 {
		t.Fatalf("account info: %+v", info)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S2", Subjects: []string{"s2"}})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10027 {
		t.Fatalf("second stream past the tier's limit: %v", err)
	}
}
