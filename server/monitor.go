package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Monitoring endpoint paths, relative to http_base_path.
const (
	RootPath     = "/"
	VarzPath     = "/varz"
	ConnzPath    = "/connz"
	RoutezPath   = "/routez"
	GatewayzPath = "/gatewayz"
	LeafzPath    = "/leafz"
	SubszPath    = "/subsz"
	StackszPath  = "/stacksz"
	AccountzPath = "/accountz"
	AccstatzPath = "/accstatz"
	JszPath      = "/jsz"
	HealthzPath  = "/healthz"
	ExpvarzPath  = "/debug/vars"
	// DashboardPath is the live dashboard (monitor_dashboard.go).
	DashboardPath = "/dashboard"
)

// httpServer is the monitoring listener with its request counters.
type httpServer struct {
	l    net.Listener
	srv  *http.Server
	base string

	mu    sync.Mutex
	stats map[string]uint64 // requests per endpoint path, for /varz
}

// errHTTPSNoTLS is returned at start-up for https_port / -ms without a
// tls block to take the certificate from.
var errHTTPSNoTLS = errors.New("https monitoring (https_port, -ms) needs a tls block with cert_file and key_file")

// startMonitoring opens the HTTP monitoring port.
func (s *Server) startMonitoring() error {
	o := s.getOpts()
	if o.HTTPPort != 0 && o.HTTPSPort != 0 {
		return fmt.Errorf("can't specify both HTTP (%v) and HTTPs (%v) ports", o.HTTPPort, o.HTTPSPort)
	}
	port, scheme := o.HTTPPort, "http"
	if o.HTTPSPort != 0 {
		if s.tlsConfig() == nil {
			return errHTTPSNoTLS
		}
		port, scheme = o.HTTPSPort, "https"
	}
	if port == RANDOM_PORT {
		port = 0
	}
	l, err := net.Listen("tcp", net.JoinHostPort(o.HTTPHost, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	s.Noticef("Starting %s monitor on %s", scheme, net.JoinHostPort(o.HTTPHost, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	if scheme == "https" {
		// The listener's Addr stays the TCP one, which MonitorAddr reports.
		l = tls.NewListener(l, s.httpsTLSConfig())
	}
	h := &httpServer{l: l, base: normalizeBasePath(o.HTTPBasePath), stats: make(map[string]uint64)}
	mux := http.NewServeMux()
	s.registerEndpoints(h, mux)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(debugLogWriter{s}, "", 0)}
	s.mu.Lock()
	s.http = h
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = h.srv.Serve(l)
	}()
	return nil
}

// debugLogWriter sends net/http's own complaints (bad TLS handshakes and
// the like) to the server's debug log instead of standard error.
type debugLogWriter struct{ s *Server }

func (w debugLogWriter) Write(p []byte) (int, error) {
	w.s.Debugf("monitoring: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// normalizeBasePath turns "", "/" "x", "/x/" into "" or "/x": the prefix
// every endpoint path is appended to.
func normalizeBasePath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

func (s *Server) registerEndpoints(h *httpServer, mux *http.ServeMux) {
	handlers := []struct {
		path string
		fn   http.HandlerFunc
	}{
		{VarzPath, s.handleVarz},
		{ConnzPath, s.handleConnz},
		{RoutezPath, s.handleRoutez},
		{GatewayzPath, s.handleGatewayz},
		{LeafzPath, s.handleLeafz},
		{SubszPath, s.handleSubsz},
		{StackszPath, s.handleStacksz},
		{AccountzPath, s.handleAccountz},
		{AccstatzPath, s.handleAccstatz},
		{JszPath, s.handleJsz},
		{RaftzPath, s.handleRaftz},
		{HealthzPath, s.handleHealthz},
		{ExpvarzPath, expvar.Handler().ServeHTTP},
		{MetricsPath, s.handleMetrics},
		{DashboardPath, s.handleDashboard},
	}
	for _, e := range handlers {
		mux.HandleFunc(h.base+e.path, h.counted(e.path, e.fn))
	}
	// The root pattern catches every unknown path too; only the index
	// itself counts as a request to "/".
	root := h.base + "/"
	index := h.counted(RootPath, s.handleRoot)
	mux.HandleFunc(root, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != root && r.URL.Path != h.base {
			http.NotFound(w, r)
			return
		}
		index(w, r)
	})
}

// counted wraps fn so that /varz can report requests per endpoint.
func (h *httpServer) counted(path string, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.stats[path]++
		h.mu.Unlock()
		fn(w, r)
	}
}

func (h *httpServer) reqStats() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]uint64, len(h.stats))
	for k, v := range h.stats {
		m[k] = v
	}
	return m
}

func (s *Server) stopMonitoring() {
	s.mu.Lock()
	h := s.http
	s.mu.Unlock()
	if h != nil {
		h.srv.Close()
	}
}

// MonitorAddr returns the monitoring listener's address, or nil.
func (s *Server) MonitorAddr() *net.TCPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http == nil {
		return nil
	}
	return s.http.l.Addr().(*net.TCPAddr)
}

func (s *Server) monitorStats() map[string]uint64 {
	s.mu.Lock()
	h := s.http
	s.mu.Unlock()
	if h == nil {
		return map[string]uint64{}
	}
	return h.reqStats()
}

// indexLinks are the endpoints the index page lists, in the reference's order.
var indexLinks = []struct{ title, path string }{
	{"General", "varz"},
	{"JetStream", "jsz"},
	{"Connections", "connz"},
	{"Accounts", "accountz"},
	{"Account Stats", "accstatz"},
	{"Subscriptions", "subsz"},
	{"Routes", "routez"},
	{"LeafNodes", "leafz"},
	{"Gateways", "gatewayz"},
	{"Raft Groups", "raftz"},
	{"Health Probe", "healthz"},
	{"Expvar", "debug/vars"},
	{"Prometheus Metrics", "metrics"},
	{"Dashboard", "dashboard"},
}

func (s *Server) handleRoot(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	b.WriteString("<html lang=\"en\">\n<head>\n<title>NATS Server</title>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>NATS Server v%s</h1>\n", VERSION)
	for _, l := range indexLinks {
		fmt.Fprintf(&b, "<a href=./%s>%s<span class=\"endpoint\"> /%s</span></a><br/>\n", l.path, l.title, l.path)
	}
	b.WriteString("<a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring class=\"help\">Help</a>\n</body>\n</html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

// HealthStatus is the /healthz answer. A healthy server answers only
// {"status":"ok"}; the code and error appear when it is not.
type HealthStatus struct {
	Status     string `json:"status"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// handleHealthz answers ok once the server accepts clients. The
// js-enabled-only and js-server-only options only narrow the JetStream
// checks, and with JetStream off there is nothing to check, as with the
// reference when JetStream is disabled.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []string{"js-enabled-only", "js-server-only", "js-enabled", "js-meta-only"} {
		if v := q.Get(k); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				badRequest(w, fmt.Sprintf("Error decoding boolean for '%s': %v", k, err))
				return
			}
		}
	}
	hs := HealthStatus{Status: "ok"}
	code := http.StatusOK
	if !s.Running() || s.isShuttingDown() {
		code = http.StatusServiceUnavailable
		hs = HealthStatus{Status: "unavailable", StatusCode: code, Error: "server not running"}
	}
	b, _ := json.Marshal(hs)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// healthStatus is the answer to $SYS.REQ.SERVER.PING.HEALTHZ, which the
// reference words with a status code even when healthy.
func (s *Server) healthStatus() HealthStatus {
	if !s.Running() || s.isShuttingDown() {
		return HealthStatus{Status: "unavailable", StatusCode: http.StatusServiceUnavailable, Error: "server not running"}
	}
	return HealthStatus{Status: "ok", StatusCode: http.StatusOK}
}

// handleStacksz dumps every goroutine's stack. The reference labels the
// plain-text dump application/json; tools do not parse it, so we follow.
func (s *Server) handleStacksz(w http.ResponseWriter, _ *http.Request) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf)
}

// writeJSON answers with indented JSON. The reference v2.15.2 ignores the
// old JSONP "callback" parameter and always answers plain JSON, so we do too:
// a wrapped answer would break tools that parse it.
func writeJSON(w http.ResponseWriter, _ *http.Request, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// badRequest answers 400 with msg in plain text, as the reference does for
// bad query options.
func badRequest(w http.ResponseWriter, msg string) {
	// Not http.Error: the reference sends the text without a newline or
	// the nosniff header, and clients compare these bodies.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	w.Write([]byte(msg))
}

// queryInt reads an integer query option; absent means def.
func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("Error decoding int for '%s': %v", name, err)
	}
	return n, nil
}

// queryBool reads a boolean query option; absent means false.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("Error decoding boolean for '%s': %v", name, err)
	}
	return b, nil
}

// pageBounds clips offset and limit to n items and returns the slice bounds.
func pageBounds(offset, limit, n int) (int, int) {
	if offset < 0 {
		offset = 0
	}
	if offset > n {
		offset = n
	}
	end := offset + limit
	if limit <= 0 || end > n {
		end = n
	}
	return offset, end
}

// fmtUptime renders a duration as the reference does: 1y2d3h4m5s, leaving
// out leading zero units, seconds truncated.
func fmtUptime(d time.Duration) string {
	tsecs := int64(d / time.Second)
	tmins, secs := tsecs/60, tsecs%60
	thrs, mins := tmins/60, tmins%60
	tdays, hrs := thrs/24, thrs%24
	years, days := tdays/365, tdays%365
	switch {
	case years > 0:
		return fmt.Sprintf("%dy%dd%dh%dm%ds", years, days, hrs, mins, secs)
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm%ds", days, hrs, mins, secs)
	case hrs > 0:
		return fmt.Sprintf("%dh%dm%ds", hrs, mins, secs)
	case mins > 0:
		return fmt.Sprintf("%dm%ds", mins, secs)
	}
	return fmt.Sprintf("%ds", secs)
}

// sortedAccounts returns every registered account, ordered by name.
func (s *Server) sortedAccounts() []*Account {
	var accs []*Account
	s.accounts.Range(func(_, v any) bool {
		accs = append(accs, v.(*Account))
		return true
	})
	sort.Slice(accs, func(i, j int) bool { return accs[i].Name < accs[j].Name })
	return accs
}
