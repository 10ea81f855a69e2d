package server

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"
)

// httpServer is the monitoring listener.
type httpServer struct {
	l   net.Listener
	srv *http.Server
}

// startMonitoring opens the HTTP monitoring port.
func (s *Server) startMonitoring() error {
	o := s.getOpts()
	port := o.HTTPPort
	if port == RANDOM_PORT {
		port = 0
	}
	l, err := net.Listen("tcp", net.JoinHostPort(o.HTTPHost, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	s.Noticef("Starting http monitor on %s", net.JoinHostPort(o.HTTPHost, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.handleHealthz)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.http = &httpServer{l: l, srv: hs}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = hs.Serve(l)
	}()
	return nil
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

// HealthStatus is the /healthz answer.
type HealthStatus struct {
	Status     string `json:"status"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	hs := s.healthStatus()
	writeJSON(w, r, hs.StatusCode, hs)
}

// healthStatus is the /healthz answer, also served over the system account.
func (s *Server) healthStatus() HealthStatus {
	if !s.Running() {
		return HealthStatus{Status: "unavailable", StatusCode: http.StatusServiceUnavailable, Error: "server not running"}
	}
	return HealthStatus{Status: "ok", StatusCode: http.StatusOK}
}

// writeJSON answers with indented JSON, wrapped in the JSONP callback when
// the request names one, as the reference does.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if cb := r.URL.Query().Get("callback"); cb != "" {
		w.Header().Set("Content-Type", "application/javascript")
		w.WriteHeader(code)
		w.Write([]byte(cb + "("))
		w.Write(b)
		w.Write([]byte(")"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}
