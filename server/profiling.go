package server

import (
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"
)

// profServer serves Go's pprof endpoints (/debug/pprof/...) on prof_port,
// as the reference does, on a listener of its own so that profiles are
// never exposed on the monitoring port.
type profServer struct {
	ln  net.Listener
	srv *http.Server
}

// startProfiling listens on the listen host and prof_port (-1 for a random
// port) and logs "profiling port: N", the reference's line.
func (s *Server) startProfiling() error {
	o := s.getOpts()
	port := o.ProfPort
	if port == RANDOM_PORT {
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace streams for as many seconds
	// as asked. Slow or idle peers are still cut off.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		IdleTimeout: time.Minute, ErrorLog: log.New(debugLogWriter{s}, "", 0)}
	s.mu.Lock()
	s.prof = &profServer{ln: ln, srv: srv}
	s.mu.Unlock()
	s.Noticef("profiling port: %d", ln.Addr().(*net.TCPAddr).Port)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
	return nil
}

// stopProfiling closes the profiling listener and its connections.
func (s *Server) stopProfiling() {
	s.mu.Lock()
	p := s.prof
	s.mu.Unlock()
	if p != nil {
		p.srv.Close()
	}
}

// ProfilerAddr returns the profiling listener's address, nil without
// prof_port.
func (s *Server) ProfilerAddr() *net.TCPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prof == nil {
		return nil
	}
	return s.prof.ln.Addr().(*net.TCPAddr)
}
