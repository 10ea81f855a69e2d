package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"
)

// reloadKind says how a changed option takes effect.
type reloadKind int

const (
	reloadLogging    reloadKind = iota + 1 // rebuild the logger
	reloadAuth                             // re-check every connection's credentials
	reloadLimits                           // read from the options on use
	reloadPidFile                          // rewrite the pid file
	reloadMappings                         // recompile the global account's mappings
	reloadTLS                              // new certificates for new connections
	reloadConnLimits                       // pushed to open connections (see applyConnLimits)
	reloadInfo                             // what INFO tells new clients
	reloadPortsFile                        // rewrite the ports file in its new directory
	reloadJetStream                        // JetStream's limits (reloadJetStream)
	reloadCluster                          // routes and route credentials (route_reload.go)
	reloadWebsocket                        // the wss certificates (reloadWebsocketTLS)
	reloadAccounts                         // accounts added, mappings (reload_accounts.go)
	reloadGateway                          // the gateway tls blocks (gateway_reload.go)
)

// reloadable lists the Options fields that may change at runtime, with the
// name the reference logs for them. Any other field that changes makes the
// reload fail with "config reload not supported for <Field>", as
// max_closed_clients, no_header_support and prof_port do with the reference.
// Every entry must take effect: reloadLimits fields are read from the
// options where they are used; the other kinds are applied in applyReload.
var reloadable = map[string]struct {
	name string
	kind reloadKind
}{
	"Debug":               {"debug", reloadLogging},
	"Trace":               {"trace", reloadLogging},
	"TraceVerbose":        {"trace_verbose", reloadLogging},
	"Logtime":             {"logtime", reloadLogging},
	"LogtimeUTC":          {"logtime_utc", reloadLogging},
	"LogFile":             {"log_file", reloadLogging},
	"LogSizeLimit":        {"log_size_limit", reloadLogging},
	"LogMaxFiles":         {"logfile_max_num", reloadLogging},
	"Syslog":              {"syslog", reloadLogging},
	"RemoteSyslog":        {"remote_syslog", reloadLogging},
	"MaxTracedMsgLen":     {"max_traced_msg_len", reloadLimits},
	"Username":            {"authorization username", reloadAuth},
	"Password":            {"authorization password", reloadAuth},
	"Authorization":       {"authorization token", reloadAuth},
	"AuthTimeout":         {"authorization timeout", reloadAuth},
	"Users":               {"authorization users", reloadAuth},
	"Nkeys":               {"authorization nkey users", reloadAuth},
	"NoAuthUser":          {"no_auth_user", reloadAuth},
	"DefaultPermissions":  {"default_permissions", reloadAuth},
	"Mappings":            {"mappings", reloadMappings},
	"TLS":                 {"tls", reloadTLS},
	"AllowNonTLS":         {"allow_non_tls", reloadTLS},
	"MaxConn":             {"max_connections", reloadConnLimits},
	"MaxSubs":             {"max_subscriptions", reloadConnLimits},
	"MaxPayload":          {"max_payload", reloadConnLimits},
	"MaxPending":          {"max_pending", reloadConnLimits},
	"MaxControlLine":      {"max_control_line", reloadConnLimits},
	"PingInterval":        {"ping_interval", reloadLimits},
	"MaxPingsOut":         {"ping_max", reloadLimits},
	"WriteDeadline":       {"write_deadline", reloadLimits},
	"LameDuckDuration":    {"lame_duck_duration", reloadLimits},
	"LameDuckGracePeriod": {"lame_duck_grace_period", reloadLimits},
	// Read when failed gateway connect attempts are logged.
	"ConnectErrorReports":   {"connect_error_reports", reloadLimits},
	"ReconnectErrorReports": {"reconnect_error_reports", reloadLimits},
	// Read where used.
	"ServerTags":             {"server_tags", reloadLimits},
	"PidFile":                {"pid_file", reloadPidFile},
	"PortsFileDir":           {"ports_file_dir", reloadPortsFile},
	"ClientAdvertise":        {"client_advertise", reloadInfo},
	"JetStreamLimits":        {"jetstream limits", reloadJetStream},
	"JetStreamMaxMemory":     {"JetStream max_mem_store", reloadJetStream},
	"JetStreamMaxStore":      {"JetStream max_file_store", reloadJetStream},
	"JetStreamAccountLimits": {"jetstream account limits", reloadJetStream},
	"Cluster":                {"cluster", reloadCluster}, // what may change: checkReloadCluster
	"Routes":                 {"cluster routes", reloadCluster},
	// Only the certificate files; checkReloadWebsocket refuses the rest.
	"Websocket": {"websocket tls", reloadWebsocket},
	// What may change: checkReloadAccounts.
	"Accounts": {"accounts", reloadAccounts},
	// Only the tls blocks' contents; checkReloadGateway refuses the rest.
	"Gateway": {"gateway tls", reloadGateway},
}

// Reload re-reads the configuration file and applies what changed. When an
// option cannot change at runtime, or the file is broken, nothing is applied
// and the server keeps running on its current configuration.
func (s *Server) Reload() error {
	cur := s.getOpts()
	if cur.ConfigFile == "" {
		return errors.New("can only reload config when a file is provided using -c or --config")
	}
	fileOpts, err := ProcessConfigFile(cur.ConfigFile)
	if err != nil {
		return err
	}
	next := fileOpts
	if cur.cmdLine != nil {
		// Command-line flags keep winning over the file across reloads.
		next = mergeFlags(fileOpts, cur.cmdLine, cur.cmdSet)
		next.cmdLine, next.cmdSet = cur.cmdLine, cur.cmdSet
	}
	next.NoLog, next.NoSigs = cur.NoLog, cur.NoSigs
	setBaselineOptions(next)
	if err := validateOptions(next); err != nil {
		return err
	}
	changes, err := diffOptions(cur, next)
	if err != nil {
		return err
	}
	if err := checkReloadTLS(next); err != nil {
		return err
	}
	if err := checkReloadWebsocket(cur, next); err != nil {
		return err
	}
	if err := s.checkReloadJetStream(cur, next); err != nil {
		return err
	}
	if err := checkReloadCluster(cur, next); err != nil {
		return err
	}
	if err := checkReloadAccounts(cur, next); err != nil {
		return err
	}
	if err := checkReloadGateway(cur, next); err != nil {
		return err
	}
	s.applyReload(cur, next, changes)
	s.Noticef("Reloaded server configuration (sha256:%s)", next.configDigest)
	return nil
}

type optChange struct {
	field, name string
	kind        reloadKind
	value       any
}

// diffOptions lists changed fields, or refuses one that cannot change.
func diffOptions(cur, next *Options) ([]optChange, error) {
	var changes []optChange
	for _, fv := range optionFields(cur, next) {
		f, a, b := fv.field, fv.cur, fv.next
		if reflect.DeepEqual(a, b) {
			continue
		}
		r, ok := reloadable[f.Name]
		if !ok {
			return nil, fmt.Errorf("config reload not supported for %s: old=%v, new=%v", f.Name, a, b)
		}
		changes = append(changes, optChange{field: f.Name, name: r.name, kind: r.kind, value: b})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].kind < changes[j].kind })
	return changes, nil
}

type optionField struct {
	field     reflect.StructField
	cur, next any
}

// optionFields pairs the exported fields of two Options, looking inside
// embedded structs so that each option is compared, and named, on its own.
func optionFields(cur, next *Options) []optionField {
	var out []optionField
	var walk func(cv, nv reflect.Value)
	walk = func(cv, nv reflect.Value) {
		t := cv.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			switch {
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(cv.Field(i), nv.Field(i))
			case f.IsExported() && f.Name != "ConfigFile" && f.Name != "CheckConfig":
				out = append(out, optionField{f, cv.Field(i).Interface(), nv.Field(i).Interface()})
			}
		}
	}
	walk(reflect.ValueOf(cur).Elem(), reflect.ValueOf(next).Elem())
	return out
}

// applyReload switches to the new options and makes each change take effect.
func (s *Server) applyReload(cur, next *Options, changes []optChange) {
	kinds := map[reloadKind]bool{}
	for _, ch := range changes {
		kinds[ch.kind] = true
	}
	if kinds[reloadAccounts] { // before the options naming them are seen
		s.reloadAccounts(cur, next)
	}
	s.opts.Store(next)
	s.mu.Lock()
	s.configTime = time.Now()
	s.mu.Unlock()
	if kinds[reloadLogging] {
		if err := s.ConfigureLogger(); err != nil {
			s.Errorf("Error reconfiguring the logger: %v", err)
		}
	}
	s.logReloaded(changes, next)
	if kinds[reloadAuth] {
		s.mu.Lock()
		s.info.AuthRequired = authConfigured(next)
		s.mu.Unlock()
		s.recheckClientsAuth()
	}
	if kinds[reloadTLS] {
		if err := s.reloadClientTLS(next); err != nil {
			s.Errorf("Error reloading TLS: %v", err)
		}
	}
	if kinds[reloadMappings] {
		if err := s.gacc.setMappings(next.Mappings); err != nil {
			s.Errorf("Error applying mappings: %v", err)
		}
	}
	if kinds[reloadPidFile] && next.PidFile != "" {
		s.writePidFile()
	}
	if kinds[reloadInfo] {
		s.mu.Lock()
		port := next.Port
		if s.listener != nil {
			port = s.listener.Addr().(*net.TCPAddr).Port
		}
		s.setInfoHostPort(next, port)
		s.mu.Unlock()
	}
	if kinds[reloadPortsFile] {
		s.movePortsFile(next.PortsFileDir)
	}
	if kinds[reloadConnLimits] {
		s.applyConnLimits(cur, next)
	}
	if kinds[reloadJetStream] {
		s.reloadJetStream(cur, next)
	}
	if kinds[reloadCluster] {
		s.reloadCluster(cur, next)
	}
	if kinds[reloadWebsocket] {
		s.reloadWebsocketTLS(next)
	}
	if kinds[reloadGateway] {
		s.reloadGatewayTLS(next)
	}
}

// logReloaded logs each change in the reference's words; secrets are never
// shown.
func (s *Server) logReloaded(changes []optChange, next *Options) {
	for _, ch := range changes {
		switch {
		case ch.kind == reloadAuth && strings.HasPrefix(ch.name, "authorization"):
			s.Noticef("Reloaded: %s", ch.name)
		case ch.field == "TLS":
			s.Noticef("Reloaded: tls = %s", enabledOrNot(next.TLS != nil))
		case ch.field == "Cluster": // holds the route password
			s.Noticef("Reloaded: cluster")
		case ch.field == "Accounts":
			s.Noticef("Reloaded: accounts")
		case ch.field == "Routes":
			s.Noticef("Reloaded: cluster routes")
		case ch.field == "Websocket":
			s.Noticef("Reloaded: websocket tls certificates")
		case ch.field == "Gateway":
			s.Noticef("Reloaded: gateway tls certificates")
		case ch.field == "JetStreamMaxMemory" || ch.field == "JetStreamMaxStore":
			s.Noticef("Reloaded: %s = %s", ch.name, friendlyBytes(ch.value.(int64)))
		default:
			s.Noticef("Reloaded: %s = %v", ch.name, ch.value)
		}
	}
}

// applyConnLimits brings open connections under the new limits: max_pending
// at once; max_payload, max_control_line and max_subscriptions through
// limitsGen, which each reader checks once per read (its fields stay
// reader-owned, with nothing added per message); a new max_payload is also
// announced in an INFO, so that clients check it themselves; connections
// over a lowered max_connections are closed, the newest first.
func (s *Server) applyConnLimits(cur, next *Options) {
	s.mu.Lock()
	s.info.MaxPayload = next.MaxPayload
	s.mu.Unlock()
	s.limitsGen.Add(1)
	clients := s.clientList()
	for _, c := range clients {
		c.mu.Lock()
		c.out.mp = next.MaxPending
		c.mu.Unlock()
	}
	if next.MaxPayload != cur.MaxPayload {
		s.sendAsyncInfo(clients, s.asyncInfo(false), false)
	}
	if next.MaxConn > 0 && len(clients) > next.MaxConn {
		sort.Slice(clients, func(i, j int) bool { return clients[i].cid > clients[j].cid })
		for _, c := range clients[:len(clients)-next.MaxConn] {
			c.closeWithErr("maximum connections exceeded", MaxConnectionsExceeded)
			s.Errorf("%s - maximum connections exceeded", c.logPrefix())
		}
	}
}

// movePortsFile replaces the ports file by one in dir (none if dir is "").
func (s *Server) movePortsFile(dir string) {
	s.mu.Lock()
	old := s.portsFile
	s.portsFile = ""
	s.mu.Unlock()
	if old != "" {
		if err := os.Remove(old); err != nil && !os.IsNotExist(err) {
			s.Errorf("Error cleaning up ports file %s: %v", old, err)
		}
	}
	if dir != "" {
		s.writePortsFile(dir)
	}
}

// loadLimits copies the per-connection limits of the current options into
// the reader-owned fields; the reader calls it when limitsGen moved.
func (c *client) loadLimits(gen uint64) {
	o := c.srv.getOpts()
	c.mpay, c.mcl = o.MaxPayload, o.MaxControlLine
	c.msubs = int32(min(o.MaxSubs, math.MaxInt32))
	c.loadJWTLimits()
	c.limitsGen = gen
}

// checkReloadTLS loads the new tls block's certificates before anything is
// applied, so that a bad file refuses the whole reload.
func checkReloadTLS(next *Options) error {
	if next.TLS == nil {
		return nil
	}
	if err := validateClientTLS(next.TLS); err != nil {
		return err
	}
	_, err := GenTLSConfig(next.TLS)
	return err
}

func enabledOrNot(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}
