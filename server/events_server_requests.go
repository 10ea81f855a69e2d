package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Server-wide requests: $SYS.REQ.SERVER.PING.<kind> and $SYS.REQ.SERVER.<id>.<kind>.

func init() {
	for kind, h := range map[string]sysRequestHandler{
		"STATSZ": func(s *Server, _ *sysRequest) (any, error) {
			return rawReply{&ServerStatsMsg{Server: s.serverInfo(), Stats: s.statsz()}}, nil
		},
		"IDZ": func(s *Server, _ *sysRequest) (any, error) {
			si := s.serverInfo()
			return rawReply{map[string]string{"name": si.Name, "host": si.Host, "id": si.ID}}, nil
		},
		"HEALTHZ":   func(s *Server, _ *sysRequest) (any, error) { return s.healthStatus(), nil },
		"VARZ":      func(s *Server, _ *sysRequest) (any, error) { return s.Varz(), nil },
		"CONNZ":     sysConnz,
		"SUBSZ":     sysSubsz,
		"ROUTEZ":    func(s *Server, r *sysRequest) (any, error) { return s.routez(routezOptsOf(r.body)), nil },
		"GATEWAYZ":  func(s *Server, r *sysRequest) (any, error) { return s.gatewayz(gatewayzOptsOf(r.body)), nil },
		"LEAFZ":     func(s *Server, _ *sysRequest) (any, error) { return s.leafz(), nil },
		"JSZ":       sysJsz,
		"ACCOUNTZ":  sysAccountz,
		"EXPVARZ":   sysExpvarz,
		"IPQUEUESZ": sysIPQueuesz,
		"RAFTZ":     sysRaftz,
		"PROFILEZ":  sysProfilez,
	} {
		sysServerRequests[kind] = h
	}
	sysDirectRequests["KICK"] = sysKick
	sysDirectRequests["RELOAD"] = sysReload
}

func sysAccountz(s *Server, r *sysRequest) (any, error) {
	var opts struct {
		Account string `json:"account"`
	}
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	return s.accountz(opts.Account)
}

// sysExpvarz is what Go's expvar package publishes: memory statistics and
// the command line.
func sysExpvarz(_ *Server, _ *sysRequest) (any, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{"memstats": &ms, "cmdline": os.Args}, nil
}

// sysIPQueuesz lists the server's internal work queues by name. Ours hands
// work between goroutines without named queues (system requests are
// answered on the requester's goroutine), so there is none to list.
func sysIPQueuesz(_ *Server, r *sysRequest) (any, error) {
	var opts struct {
		All    bool   `json:"all"`
		Filter string `json:"filter"`
	}
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// ProfilezStatus answers PROFILEZ: a pprof profile, or why there is none.
type ProfilezStatus struct {
	Profile []byte `json:"profile"`
	Error   string `json:"error"`
}

// maxCPUProfile bounds a requested CPU profile, as the reference does.
const maxCPUProfile = 15 * time.Second

func sysProfilez(s *Server, r *sysRequest) (any, error) {
	var opts struct {
		Name     string        `json:"name"`
		Debug    int           `json:"debug"`
		Duration time.Duration `json:"duration"`
	}
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch {
	case opts.Name == "":
		return &ProfilezStatus{Error: "Profile name not specified"}, nil
	case opts.Name == "cpu":
		if opts.Duration <= 0 || opts.Duration > maxCPUProfile {
			return &ProfilezStatus{Error: fmt.Sprintf("Duration %v should be between 0s and %v", opts.Duration, maxCPUProfile)}, nil
		}
		if err := s.cpuProfile(&buf, opts.Duration); err != nil {
			return &ProfilezStatus{Error: err.Error()}, nil
		}
	default:
		p := pprof.Lookup(opts.Name)
		if p == nil {
			return &ProfilezStatus{Error: fmt.Sprintf("Profile %q not found", opts.Name)}, nil
		}
		if err := p.WriteTo(&buf, opts.Debug); err != nil {
			return &ProfilezStatus{Error: err.Error()}, nil
		}
	}
	return &ProfilezStatus{Profile: buf.Bytes()}, nil
}

// cpuProfile records the CPU for d, or until shutdown.
func (s *Server) cpuProfile(buf *bytes.Buffer, d time.Duration) error {
	if err := pprof.StartCPUProfile(buf); err != nil {
		return err
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-s.quitCh:
		t.Stop()
	}
	pprof.StopCPUProfile()
	return nil
}

// sysKick closes a client connection by id. A request that cannot be read
// gets no answer, only a log line, as with the reference.
func sysKick(s *Server, r *sysRequest) (any, error) {
	var opts struct {
		CID uint64 `json:"cid"`
	}
	if err := json.Unmarshal(r.body, &opts); err != nil {
		s.Errorf("SYSTEM - Error unmarshalling kick client request: %v", err)
		return nil, errNoReply
	}
	s.mu.Lock()
	c := s.clients[opts.CID]
	s.mu.Unlock()
	if c == nil {
		return nil, errors.New("no such client or leafnode id")
	}
	c.closeConnection(Kicked)
	return nil, nil
}

// sysReload reloads the configuration file, as a SIGHUP does.
func sysReload(s *Server, r *sysRequest) (any, error) {
	var opts struct{}
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	return nil, s.Reload()
}
