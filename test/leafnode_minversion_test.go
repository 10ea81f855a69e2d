package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/natsforge/nats-server/server"
)

// min_version: a hub refuses leaf nodes of older servers with the
// reference's error, and the leaf logs it and waits 5 s; values are
// checked in the reference's words. Our hub with the reference's leaf, and
// ours on the reference's hub.
func TestLeafMinVersion(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ v, err string }{
		{"bogus", "invalid leafnode's minimum version: invalid semver"},
		{"2.7.0", "the minimum version should be at least 2.8.0"},
	} {
		_, err := server.ProcessConfigFile(writeConf(t, dir, "bad.conf", fmt.Sprintf(`leafnodes { listen: "127.0.0.1:-1", min_version: %q }`, tc.v)))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Fatalf("min_version %q: %v", tc.v, err)
		}
	}
	// Ours as hub, with a version every server meets and one none does.
	ok := leafHub(t, func(o *server.Options) { o.LeafNode.MinVersion = "2.8.0" })
	waitLeafs(t, 1, ok, leafOf(t, ok.LeafAddr().Port, "", "", nil))

	ref := refBin(t)
	for _, pair := range [][2]string{{serverBin, ref}, {ref, serverBin}, {serverBin, serverBin}} {
		hubLeafPort := freePort(t)
		hp := startBinAt(t, pair[0], "-c", writeConf(t, dir, "hub.conf", fmt.Sprintf(
			"port: -1\nleafnodes { listen: \"127.0.0.1:%d\", min_version: \"2.99.0\" }\n", hubLeafPort)))
		hp.waitOutput("Server is ready")
		lp := startBinAt(t, pair[1], "-c", writeConf(t, dir, "leaf.conf", fmt.Sprintf(
			"port: -1\nleafnodes { remotes [ { url: \"nats://127.0.0.1:%d\" } ] }\n", hubLeafPort)))
		lp.waitOutput(`Leafnode Error 'connection rejected since minimum version required is "2.99.0"'`)
		lp.waitOutput("Leafnode connection dropped due to minimum version requirement. Delaying attempt to reconnect for 5s")
		hp.waitOutput("Leafnode connection closed: Minimum Version Required")
		hp.cmd.Process.Kill()
		lp.cmd.Process.Kill()
		<-hp.done
		<-lp.done
	}
}
