package test

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// chromiumPath finds Debian's chromium (apt-get install -y chromium).
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestDashboardChromium renders /dashboard in headless Chromium while a
// publisher runs, and checks that the page shows live numbers that moved
// with the traffic, the JetStream tables and the health; the screenshot is
// saved in the test's artifact directory (kept with go test -artifacts).
func TestDashboardChromium(t *testing.T) {
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("chromium is not installed (apt-get install -y chromium): the dashboard is not rendered")
	}
	s, base := runMetricsJS(t)
	nc := connect(t, s, nats.Name("dash-publisher"))
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "DASHSTREAM", Subjects: []string{"dash.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddConsumer("DASHSTREAM", &nats.ConsumerConfig{Durable: "dashcons", AckPolicy: nats.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish("dash.one", []byte("x")); err != nil {
		t.Fatal(err)
	}
	sub := connect(t, s, nats.Name("dash-subscriber"))
	if _, err := sub.Subscribe("live", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	sub.Flush()

	// Traffic for as long as the browser polls, bounded by the test's context.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for i := 0; i < 20; i++ {
					nc.Publish("live", []byte("live traffic"))
				}
			}
		}
	}()

	dir := t.ArtifactDir()
	shot := filepath.Join(dir, "dashboard.png")
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--window-size=1280,1400",
		"--virtual-time-budget=3000", "--screenshot="+shot, "--dump-dom", base+"/dashboard?interval=200")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	t.Logf("dashboard screenshot: %s", shot)

	polls := attrInt(t, dom, `id="polls" data-polls="(\d+)"`)
	if polls < 3 {
		t.Fatalf("the page polled %d times, want at least 3", polls)
	}
	first := attrInt(t, dom, `id="in-msgs" data-first="(\d+)"`)
	now := attrInt(t, dom, `id="in-msgs" data-first="\d+">(\d+)<`)
	if now <= first {
		t.Errorf("messages in shown %d, rendered %d: the numbers did not follow the traffic", now, first)
	}
	if rate := match(t, dom, `id="in-msg-rate">([^<]*)<`); rate == "0" || rate == "" {
		t.Errorf("message rate %q under traffic", rate)
	}
	for _, want := range []string{"DASHSTREAM", "dashcons", "dash-publisher", `class="ok">health: ok`, `href="./metrics"`, `href="./varz"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot is %v", b)
	}
}

func match(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("page has no match for %s", re)
	}
	return m[1]
}

func attrInt(t *testing.T, s, re string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(match(t, s, re), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDashboardServed checks the page without a browser: server-rendered
// numbers, the embedded script, a link to every JSON endpoint, no external
// asset, and the index page's link to it.
func TestDashboardServed(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) { o.HTTPBasePath = "/mon" })
	nc := connect(t, s)
	for i := 0; i < 7; i++ {
		nc.Publish("x", nil)
	}
	nc.Flush()
	waitFor(t, 2*time.Second, "in_msgs", func() bool { return num(t, getMap(t, base+"/varz"), "in_msgs") == 7 })
	code, body, hdr := get(t, base+"/dashboard")
	if code != 200 || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("dashboard: %d %q", code, hdr.Get("Content-Type"))
	}
	if !strings.Contains(body, `id="in-msgs" data-first="7">7<`) {
		t.Error("server-rendered message count missing")
	}
	for _, ep := range []string{"varz", "connz", "routez", "gatewayz", "leafz", "subsz", "accountz", "accstatz", "jsz", "healthz", "debug/vars", "metrics"} {
		if !strings.Contains(body, `href="./`+ep+`"`) {
			t.Errorf("no link to /%s", ep)
		}
	}
	if !strings.Contains(body, `get("./varz")`) || strings.Contains(body, "src=") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("want the script inlined and no external asset")
	}
	_, index, _ := get(t, base+"/")
	if !strings.Contains(index, "href=./dashboard>") {
		t.Errorf("index does not link the dashboard:\n%s", index)
	}
	if code, body, _ := get(t, base+"/dashboard?interval=x"); code != 400 || !strings.Contains(body, "Error decoding int for 'interval'") {
		t.Errorf("bad interval: %d %q", code, body)
	}
}
