package test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// subszAfterTraffic starts a monitored server from a config file holding
// extra, publishes to a subscribed subject several times (every publish
// through a fresh connection, so that no connection's own cache answers),
// and returns /subsz once every message was delivered.
func subszAfterTraffic(t *testing.T, extra string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	cfg := writeConf(t, dir, "c.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n%s\n",
		freePort(t), freePort(t), extra))
	s := runConfigServer(t, cfg)
	base := "http://" + s.MonitorAddr().String()
	sub := connect(t, s)
	got, _ := sub.SubscribeSync("orders.new")
	sub.Flush()
	const msgs = 5
	for i := 0; i < msgs; i++ {
		pub := connect(t, s)
		pub.Publish("orders.new", []byte("x"))
		pub.Flush()
		pub.Close()
	}
	for i := 0; i < msgs; i++ {
		if _, err := got.NextMsg(2 * time.Second); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return getMap(t, base+"/subsz")
}

// no_sublist_cache (or disable_sublist_cache) runs the account indexes
// without their shared match cache: /subsz shows no cached subject and no
// hit, where the default configuration caches the subject and hits it.
func TestNoSublistCache(t *testing.T) {
	def := subszAfterTraffic(t, "")
	if num(t, def, "num_cache") == 0 || def["cache_hit_rate"].(float64) == 0 {
		t.Fatalf("with the cache on, repeated publishes must be cached and hit: %v", def)
	}
	for _, opt := range []string{"no_sublist_cache: true", "disable_sublist_cache: true"} {
		sz := subszAfterTraffic(t, opt)
		if num(t, sz, "num_matches") < 5 {
			t.Fatalf("%s: every publish is still matched: %v", opt, sz)
		}
		if num(t, sz, "num_cache") != 0 || sz["cache_hit_rate"].(float64) != 0 {
			t.Fatalf("%s: the match cache must stay empty: %v", opt, sz)
		}
	}
}

// As with the reference, the option cannot change on reload.
func TestNoSublistCacheNotReloadable(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nno_sublist_cache: true\n", port))
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "config reload not supported for NoSublistCache: old=false, new=true") {
		t.Fatalf("expected the reference's refusal, got %v", err)
	}
}
