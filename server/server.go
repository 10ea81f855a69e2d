package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nkeys"
)

// Info is the INFO a client receives on connect. Field order and names
// follow the reference so that byte-comparing tools see the same shape.
type Info struct {
	ID           string   `json:"server_id"`
	Name         string   `json:"server_name"`
	Version      string   `json:"version"`
	Proto        int      `json:"proto"`
	GitCommit    string   `json:"git_commit,omitempty"`
	GoVersion    string   `json:"go"`
	Host         string   `json:"host"`
	Port         int      `json:"port"`
	Headers      bool     `json:"headers"`
	AuthRequired bool     `json:"auth_required,omitempty"`
	TLSRequired  bool     `json:"tls_required,omitempty"`
	TLSVerify    bool     `json:"tls_verify,omitempty"`
	TLSAvailable bool     `json:"tls_available,omitempty"`
	MaxPayload   int32    `json:"max_payload"`
	JetStream    bool     `json:"jetstream,omitempty"`
	IP           string   `json:"ip,omitempty"`
	CID          uint64   `json:"client_id,omitempty"`
	ClientIP     string   `json:"client_ip,omitempty"`
	Nonce        string   `json:"nonce,omitempty"`
	Cluster      string   `json:"cluster,omitempty"`
	Domain       string   `json:"domain,omitempty"`
	ConnectURLs  []string `json:"connect_urls,omitempty"`
	LameDuckMode bool     `json:"ldm,omitempty"`
	ConnectInfo  bool     `json:"connect_info,omitempty"`
	Account      string   `json:"remote_account,omitempty"`
	IsSystemAcc  bool     `json:"acc_is_sys,omitempty"`
	APILevel     int      `json:"api_lvl,omitempty"`
	XKey         string   `json:"xkey,omitempty"`
}

// Server is a NATS server. Build it with NewServer, run it with Start, stop
// it with Shutdown.
type Server struct {
	mu         sync.Mutex
	opts       atomic.Pointer[Options]
	info       Info
	kp         nkeys.KeyPair
	xkp        nkeys.KeyPair // curve key: auth callout requests are sealed with it
	listener   net.Listener
	clients    map[uint64]*client
	closed     *closedRing
	accounts   sync.Map
	gacc       *Account
	start      time.Time
	running    atomic.Bool
	shutdown   atomic.Bool
	ldm        atomic.Bool
	readyCh    chan struct{}
	quitCh     chan struct{}
	doneCh     chan struct{}
	gcid       atomic.Uint64
	wg         sync.WaitGroup
	http       *httpServer
	ctls       atomic.Pointer[listenerTLS] // client listener TLS, nil without; swapped on reload
	limitsGen  atomic.Uint64               // bumped when a reload changes per-connection limits
	prof       *profServer                 // prof_port's pprof listener, nil without
	wsl        *wsListener                 // the websocket listener, nil without
	mqttl      *mqttListener               // the MQTT listener, nil without
	mqtt       mqttState                   // MQTT per account (mqtt_jetstream.go)
	configTime time.Time
	portsFile  string
	sys        *sysState
	js         atomic.Pointer[jetStream]    // nil without JetStream; set once in Start
	cluster    atomic.Pointer[clusterState] // nil without a cluster block (route.go)
	leafs      atomic.Pointer[leafState]    // nil without a leafnodes block (leafnode.go)
	gw         atomic.Pointer[gatewayState] // nil without a gateway block (gateway.go)
	jwt        *jwtState                    // operator mode (jwt.go); nil in config mode
	callouts   calloutState                 // auth callout answers (jwt_callout.go)

	logging logState

	inMsgs           atomic.Int64
	inBytes          atomic.Int64
	outMsgs          atomic.Int64
	outBytes         atomic.Int64
	slowConsumers    atomic.Int64
	totalConnections atomic.Int64
	staleConnections atomic.Int64
}

// NewServer validates opts and builds a server that is not yet listening.
// The options are copied; later changes to opts have no effect.
func NewServer(opts *Options) (*Server, error) {
	o := opts.Clone()
	setBaselineOptions(o)
	if err := validateOptions(o); err != nil {
		return nil, err
	}
	kp, err := nkeys.CreateServer()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	xkp, err := nkeys.CreateCurveKeys()
	if err != nil {
		return nil, err
	}
	xpub, _ := xkp.PublicKey()
	s := &Server{
		kp:         kp,
		xkp:        xkp,
		clients:    make(map[uint64]*client),
		closed:     newClosedRing(o.MaxClosedClients),
		start:      time.Now(),
		readyCh:    make(chan struct{}),
		quitCh:     make(chan struct{}),
		doneCh:     make(chan struct{}),
		configTime: time.Now(),
	}
	s.opts.Store(o)
	name := o.ServerName
	if name == "" {
		name = pub
	}
	s.info = Info{
		ID:           pub,
		Name:         name,
		Version:      VERSION,
		Proto:        PROTO,
		GoVersion:    runtime.Version(),
		Headers:      !o.NoHeaderSupport,
		MaxPayload:   o.MaxPayload,
		AuthRequired: authConfigured(o),
		APILevel:     JSApiLevel,
		XKey:         xpub,
	}
	s.setInfoHostPort(o, o.Port)
	s.limitsGen.Store(1) // connections load their limits on their first read
	if err := s.configureClientTLS(o); err != nil {
		return nil, err
	}
	if o.clusterEnabled() {
		// Before any subscription, so that routes learn all interest.
		cs, err := newClusterState(s, o)
		if err != nil {
			return nil, err
		}
		s.cluster.Store(cs)
		s.info.Cluster = cs.name
	}
	if o.leafEnabled() {
		ls, err := newLeafState(s, o) // before any subscription, as routes
		if err != nil {
			return nil, err
		}
		s.leafs.Store(ls)
	}
	if o.gatewayEnabled() {
		gs := newGatewayState(s, o)
		if err := gs.loadTLS(o); err != nil {
			return nil, err
		}
		s.gw.Store(gs)
	}
	s.gacc = s.registerAccount(NewAccount(DEFAULT_GLOBAL_ACCOUNT))
	if err := s.configureOperator(o); err != nil {
		return nil, err
	}
	if err := s.configureAccounts(o); err != nil {
		return nil, err
	}
	s.setupSystemAccount(o)
	if err := s.startOperator(); err != nil {
		return nil, err
	}
	if cs := s.cluster.Load(); cs != nil && s.sys != nil {
		cs.pinSystemAccount(s.sys.acc.Name)
	}
	return s, nil
}

func (s *Server) getOpts() *Options { return s.opts.Load() }

// registerClient adds a new client connection to the server's clients,
// unless max_connections is reached (tooMany: the caller refuses it with
// the reference's error). A server shutting down or in lame duck mode
// takes no new connections: conn is closed and ok is false.
func (s *Server) registerClient(c *client, conn net.Conn) (tooMany, ok bool) {
	o := s.getOpts()
	s.mu.Lock()
	if s.isShuttingDown() || s.ldm.Load() {
		s.mu.Unlock()
		conn.Close()
		return false, false
	}
	tooMany = o.MaxConn > 0 && len(s.clients) >= o.MaxConn
	if !tooMany {
		s.clients[c.cid] = c
	}
	s.mu.Unlock()
	s.totalConnections.Add(1)
	return tooMany, true
}

// ID returns the server's public nkey.
func (s *Server) ID() string { return s.info.ID }

// Name returns the server name, its ID unless configured.
func (s *Server) Name() string { return s.info.Name }

func (s *Server) isShuttingDown() bool { return s.shutdown.Load() }

// Running reports whether the server accepts connections: from the moment
// its client port listens until Shutdown has closed everything.
func (s *Server) Running() bool { return s.running.Load() }

// Start opens the listeners and serves until Shutdown. It returns once the
// server is ready; a failure to listen is fatal, as with the reference.
// Embedders that want the error use StartAndCheck.
func (s *Server) Start() {
	if err := s.StartAndCheck(); err != nil {
		s.Fatalf("%v", err)
	}
}

// StartAndCheck is Start returning the error instead of logging it fatally.
func (s *Server) StartAndCheck() (err error) {
	o := s.getOpts()
	s.Noticef("Starting nats-server")
	s.Noticef("  Version:  %s", VERSION)
	s.Noticef("  Git:      [not set]")
	s.Noticef("  Name:     %s", s.info.Name)
	s.Noticef("  ID:       %s", s.info.ID)
	if o.ProfPort != 0 {
		if err := s.startProfiling(); err != nil {
			return fmt.Errorf("error starting profiler: %v", err)
		}
		defer func() {
			if err != nil {
				s.stopProfiling()
			}
		}()
	}
	if hasPlaintextPasswords(o) {
		s.Warnf("Plaintext passwords detected, use nkeys or bcrypt")
	}
	if o.ConfigFile != "" {
		s.Noticef("Using configuration file: %s (sha256:%s)", o.ConfigFile, o.configDigest)
	}
	s.logOperatorMode() // jwt.go
	if o.PidFile != "" {
		if err := s.writePidFile(); err != nil {
			return fmt.Errorf("Could not write pidfile: %v", err)
		}
	}
	if o.HTTPPort != 0 || o.HTTPSPort != 0 {
		if err := s.startMonitoring(); err != nil {
			return fmt.Errorf("Error starting monitoring: %v", err)
		}
	}
	if o.JetStream {
		if err := s.startJetStream(); err != nil {
			s.stopMonitoring()
			return fmt.Errorf("Can't start JetStream: %v", err)
		}
	}
	if err := s.startWebsocket(); err != nil {
		s.stopJetStream()
		s.stopMonitoring()
		return err
	}
	if err := s.startMQTT(); err != nil {
		s.stopWebsocket()
		s.stopJetStream()
		s.stopMonitoring()
		return err
	}
	if err := s.startClientListener(); err != nil {
		s.stopMQTT()
		s.stopWebsocket()
		s.stopJetStream()
		s.stopMonitoring()
		return fmt.Errorf("Error listening on port: %s, %q", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), err)
	}
	// Gateways first, so that the routes' INFO carries our gateway URL.
	if err := s.startGateways(); err != nil {
		s.Shutdown()
		return err
	}
	if err := s.startCluster(); err != nil {
		s.stopCluster()
		s.Shutdown()
		return err
	}
	if err := s.startLeafnodes(); err != nil {
		s.Shutdown()
		return err
	}
	s.updateClientConnectURLs()
	if o.PortsFileDir != "" {
		s.writePortsFile(o.PortsFileDir)
	}
	s.handleSignals()
	if s.sys != nil {
		s.wg.Add(1)
		go s.statszLoop()
	}
	s.Noticef("Server is ready")
	close(s.readyCh)
	return nil
}

func (s *Server) startClientListener() error {
	o := s.getOpts()
	// The kernel completes client connections as soon as the socket
	// listens: from then on the server is running, and a health probe sent
	// by whoever saw the port open must say so.
	s.running.Store(true)
	l, err := net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
	if err != nil {
		s.running.Store(false)
		return err
	}
	s.mu.Lock()
	s.listener = l
	port := l.Addr().(*net.TCPAddr).Port
	s.setInfoHostPort(o, port)
	s.mu.Unlock()
	s.Noticef("Listening for client connections on %s", net.JoinHostPort(o.Host, strconv.Itoa(port)))
	s.logClientTLSMode()
	s.wg.Add(1)
	go s.acceptLoop(l)
	return nil
}

// acceptLoop accepts client connections until the listener closes.
func (s *Server) acceptLoop(l net.Listener) {
	defer s.wg.Done()
	stopped := func() bool { return s.isShuttingDown() || s.ldm.Load() }
	s.acceptConns(l, "", s.quitCh, stopped, func(conn net.Conn) bool {
		s.createClient(conn)
		return true
	})
}

// acceptConns accepts on l until it closes or stopped says so, handing
// each connection to handle (which returns false to stop). Errors such as
// running out of file descriptors back off, 10 ms doubling up to 1 s,
// instead of spinning; kind names the listener in that log line.
func (s *Server) acceptConns(l net.Listener, kind string, quit <-chan struct{}, stopped func() bool, handle func(net.Conn) bool) {
	delay := 10 * time.Millisecond
	for {
		conn, err := l.Accept()
		if err == nil {
			delay = 10 * time.Millisecond
			if !handle(conn) {
				return
			}
			continue
		}
		if stopped() || errors.Is(err, net.ErrClosed) {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		s.Errorf("Temporary %saccept error: %v, sleeping %v", kind, err, delay)
		select {
		case <-time.After(delay):
		case <-quit:
			return
		}
		delay = min(delay*2, time.Second)
	}
}

// createClient sets up a new connection and starts its goroutines.
func (s *Server) createClient(conn net.Conn) { s.createClientConn(conn, nil) }

// createClientConn sets up a client connection, a websocket one when ws is
// not nil (its upgrade and any TLS are done).
func (s *Server) createClientConn(conn net.Conn, ws *wsConn) {
	o := s.getOpts()
	c := &client{
		cid:        s.gcid.Add(1),
		kind:       CLIENT,
		srv:        s,
		nc:         conn,
		start:      time.Now(),
		subs:       make(map[string]*subscription),
		pcd:        make(map[*client]struct{}),
		opts:       defaultClientOpts,
		acc:        s.gacc,
		mpay:       o.MaxPayload,
		mcl:        o.MaxControlLine,
		msubs:      int32(o.MaxSubs),
		writerDone: make(chan struct{}),
		ws:         ws,
	}
	c.verbose, c.pedantic, c.echo = true, true, true
	c.pa.hdr = -1
	c.out.sg = make(chan struct{}, 1)
	c.out.mp = o.MaxPending
	c.out.csz = minOutChunk
	if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.host, c.port = addr.IP.String(), addr.Port
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}

	s.mu.Lock()
	info := s.info
	s.mu.Unlock()
	if ws != nil {
		s.wsInfo(&info)
		c.tls.conn = wsTLSConn(conn) // wss: /connz and verify_and_map read it
	}
	info.CID = c.cid
	info.ClientIP = c.host
	c.authRequired = info.AuthRequired
	if nonceRequired(o) {
		c.nonce = newNonce()
		info.Nonce = c.nonce
	}
	infoJSON, _ := json.Marshal(&info)
	infoNow := ws != nil || s.initClientTLS(c, infoJSON)

	tooMany, ok := s.registerClient(c, conn)
	if !ok {
		return
	}

	c.mu.Lock()
	if infoNow {
		c.queueOutbound([]byte("INFO "), infoJSON, []byte(" \r\n"))
	}
	if tooMany {
		c.queueOutbound([]byte("-ERR 'maximum connections exceeded'\r\n"))
		if ws != nil {
			c.wsOnClose(MaxConnectionsExceeded)
		}
		c.closed = true
		c.reason = MaxConnectionsExceeded
		c.mu.Unlock()
		s.Errorf("%s - maximum connections exceeded", c.logPrefix())
		go c.writeLoop() // flushes INFO and the error, then closes
		return
	}
	// Shutdown may already have closed it: then its account must not count
	// it, and it needs no timers.
	if !c.closed {
		c.acc.addClient(c)
		if c.tls.mode == tlsNone {
			c.startAuthTimer() // with TLS, once the handshake is settled (tlsUpgrade)
		}
		c.pingTimer = time.AfterFunc(o.PingInterval, c.pingTimerFired)
	}
	c.mu.Unlock()
	s.Debugf("%s - Client connection created", c.logPrefix())
	go c.writeLoop()
	go c.readLoop()
}

func secondsToDuration(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second))
}

// removeClient finishes closing a connection: its subscriptions leave the
// index and it moves to the ring of closed connections.
func (s *Server) removeClient(c *client) {
	if c.kind == ROUTER {
		s.removeRoute(c)
		return
	}
	if c.kind == LEAF {
		s.removeLeaf(c)
		return
	}
	if c.kind == GATEWAY {
		s.removeGateway(c)
		return
	}
	// Snapshot before the subscriptions go, so /connz can list them.
	cc := c.snapshot()
	cc.tls = c.tlsInfo(false)
	if c.mq != nil {
		c.mqttClosed() // will message and session, before the subscriptions go
	}
	c.releaseSubs()
	c.stopJWT()
	s.mu.Lock()
	_, ok := s.clients[c.cid]
	delete(s.clients, c.cid)
	s.mu.Unlock()
	// Closed, so no longer rebound: the account read here is final.
	c.mu.Lock()
	acc, announced, reason := c.acc, c.authDone, c.reason
	c.mu.Unlock()
	if acc != nil {
		acc.removeClient(c)
		acc.closedStats.add(cc)
	}
	if ok {
		if announced {
			s.sendDisconnectEvent(c, false)
		}
		s.closed.add(cc)
		s.Debugf("%s - Client connection closed: %s", c.logPrefix(), reason)
	}
}

// ReadyForConnections waits up to d for the server to accept clients.
func (s *Server) ReadyForConnections(d time.Duration) bool {
	select {
	case <-s.readyCh:
		return true
	case <-time.After(d):
		return false
	}
}

// Addr returns the client listener's address, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// ClientURL returns a nats:// URL clients can use.
func (s *Server) ClientURL() string {
	o := s.getOpts()
	host := o.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	port := o.Port
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		port = a.Port // INFO's port may be client_advertise's
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// writePidFile writes our pid where the options say.
func (s *Server) writePidFile() error {
	o := s.getOpts()
	return os.WriteFile(o.PidFile, []byte(strconv.Itoa(os.Getpid())), 0o660)
}

// NumClients returns the number of open client connections.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// NumSubscriptions returns the number of subscriptions in all accounts.
func (s *Server) NumSubscriptions() uint32 {
	var n uint32
	s.accounts.Range(func(_, v any) bool {
		n += v.(*Account).sl.Count()
		return true
	})
	return n
}

// Shutdown closes the listeners and every connection, then returns.
func (s *Server) Shutdown() {
	if !s.shutdown.CompareAndSwap(false, true) {
		<-s.doneCh
		return
	}
	s.Noticef("Initiating Shutdown...")
	close(s.quitCh)
	s.mu.Lock()
	if s.listener != nil {
		s.listener.Close()
	}
	clients := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	s.stopWebsocket()
	s.stopMQTT()
	s.stopMonitoring()
	s.stopProfiling()
	s.stopGateways()
	s.stopCluster()
	s.stopLeafnodes()
	s.releaseWaitingAtShutdown()
	closeAtShutdown(clients)
	s.wg.Wait()
	s.stopJetStream()
	s.running.Store(false)
	s.mu.Lock()
	portsFile := s.portsFile // a reload may have moved it
	s.mu.Unlock()
	if portsFile != "" {
		os.Remove(portsFile)
	}
	s.Noticef("Server Exiting..")
	close(s.doneCh)
}

// WaitForShutdown blocks until Shutdown has finished.
func (s *Server) WaitForShutdown() { <-s.doneCh }

// writePortsFile writes <exe>_<pid>.ports into dir, as the reference does,
// so that tools can find the ports of a server started with port -1.
func (s *Server) writePortsFile(dir string) {
	ports := struct {
		Nats       []string `json:"nats,omitempty"`
		Monitoring []string `json:"monitoring,omitempty"`
		Cluster    []string `json:"cluster,omitempty"`
		Profile    []string `json:"profile,omitempty"`
		Websocket  []string `json:"websocket,omitempty"`
	}{Nats: []string{s.ClientURL()}}
	if a := s.ClusterAddr(); a != nil {
		// Test launchers (nats.js's nst) find the route port of a
		// cluster started with listen port -1 here.
		ports.Cluster = []string{"nats://" + a.String()}
	}
	if u := s.wsURL(); u != "" {
		ports.Websocket = []string{u}
	}
	if u := s.MonitorAddr(); u != nil {
		ports.Monitoring = []string{"http://" + u.String()}
	}
	if u := s.ProfilerAddr(); u != nil {
		ports.Profile = []string{"http://" + u.String()}
	}
	b, _ := json.Marshal(ports)
	exe := filepath.Base(os.Args[0])
	name := filepath.Join(dir, fmt.Sprintf("%s_%d.ports", exe, os.Getpid()))
	if err := os.WriteFile(name, b, 0o666); err != nil {
		s.Errorf("Error writing ports file (%s): %v", name, err)
		return
	}
	s.mu.Lock()
	s.portsFile = name
	s.mu.Unlock()
}

func fmtErr(format string, a ...any) error { return fmt.Errorf(format, a...) }

// closeAtShutdown closes connections for a shutdown, gives their writers
// a moment to flush what is queued, then makes sure every socket is gone.
func closeAtShutdown(conns []*client) {
	for _, c := range conns {
		c.closeConnection(ServerShutdown)
	}
	deadline := time.After(closeFlushTimeout)
	for _, c := range conns {
		select {
		case <-c.writerDone:
		case <-deadline:
			c.nc.Close()
		}
	}
}
