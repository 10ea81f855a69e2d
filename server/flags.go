package server

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// FlagResult is what the command line asked for besides options.
type FlagResult struct {
	ShowVersion bool
	ShowHelp    bool
	ShowTLSHelp bool
	Signal      string // -sl value, e.g. "reload" or "stop=1234"
}

// ConfigureOptions parses the command line, loads the config file it names
// and applies the flags over it: a flag given on the command line wins over
// the file, as with the reference.
func ConfigureOptions(fs *flag.FlagSet, args []string) (*Options, *FlagResult, error) {
	fo := &Options{}
	res := &FlagResult{}
	x := defineFlags(fs, fo, res)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, &FlagError{err}
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unrecognized command: %q", strings.Join(fs.Args(), " "))
	}
	if res.ShowHelp || res.ShowVersion || res.ShowTLSHelp || res.Signal != "" {
		return fo, res, nil
	}
	if x.dbgAndTrace || x.dbgAndTrcVerbose {
		fo.Debug, fo.Trace = true, true
	}
	if x.trcVerbose || x.dbgAndTrcVerbose {
		fo.Trace, fo.TraceVerbose = true, true
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := x.tls.apply(fo, set); err != nil {
		return nil, nil, err
	}
	if err := x.cluster.apply(fo, set); err != nil {
		return nil, nil, err
	}

	opts := fo
	if fo.ConfigFile != "" {
		fileOpts, err := ProcessConfigFile(fo.ConfigFile)
		if err != nil {
			return nil, nil, err
		}
		flagCopy := fo.Clone()
		opts = mergeFlags(fileOpts, fo, set)
		opts.unsupported = append(opts.unsupported, fo.unsupported...)
		opts.cmdLine, opts.cmdSet = flagCopy, set
	}
	if set["DV"] || set["DVV"] {
		opts.Debug, opts.Trace = true, true
	}
	return opts, res, nil
}

// flagExtras are the flags that do not map onto one option.
type flagExtras struct {
	dbgAndTrace, trcVerbose, dbgAndTrcVerbose bool
	tls                                       tlsFlags
	cluster                                   clusterFlags
}

// defineFlags declares every flag of the reference, each with its aliases.
func defineFlags(fs *flag.FlagSet, fo *Options, res *FlagResult) *flagExtras {
	x := &flagExtras{}
	str := func(p *string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, "", "")
		}
	}
	num := func(p *int, names ...string) {
		for _, n := range names {
			fs.IntVar(p, n, 0, "")
		}
	}
	boolean := func(p *bool, def bool, names ...string) {
		for _, n := range names {
			fs.BoolVar(p, n, def, "")
		}
	}
	fs.SetOutput(discard{})
	boolean(&res.ShowHelp, false, "h", "help")
	boolean(&res.ShowVersion, false, "v", "version")
	boolean(&res.ShowTLSHelp, false, "help_tls")
	str(&fo.Host, "a", "addr", "net")
	num(&fo.Port, "p", "port")
	str(&fo.ServerName, "n", "name", "server_name")
	str(&fo.PidFile, "P", "pid")
	num(&fo.HTTPPort, "m", "http_port")
	num(&fo.HTTPSPort, "ms", "https_port")
	str(&fo.ConfigFile, "c", "config")
	boolean(&fo.CheckConfig, false, "t")
	str(&res.Signal, "sl", "signal")
	str(&fo.ClientAdvertise, "client_advertise")
	str(&fo.PortsFileDir, "ports_file_dir")
	str(&fo.LogFile, "l", "log")
	boolean(&fo.Logtime, true, "T", "logtime")
	boolean(&fo.LogtimeUTC, false, "logtime_utc")
	boolean(&fo.Syslog, false, "s", "syslog")
	str(&fo.RemoteSyslog, "r", "remote_syslog")
	boolean(&fo.Debug, false, "D", "debug")
	boolean(&fo.Trace, false, "V", "trace")
	boolean(&x.trcVerbose, false, "VV")
	boolean(&x.dbgAndTrace, false, "DV")
	boolean(&x.dbgAndTrcVerbose, false, "DVV")
	fs.Int64Var(&fo.LogSizeLimit, "log_size_limit", 0, "")
	num(&fo.MaxTracedMsgLen, "max_traced_msg_len")
	boolean(&fo.JetStream, false, "js", "jetstream")
	str(&fo.StoreDir, "sd", "store_dir")
	str(&fo.JetStreamDomain, "js_domain")
	str(&fo.Username, "user")
	str(&fo.Password, "pass")
	str(&fo.Authorization, "auth")
	x.tls.register(fs)
	str(&x.cluster.routes, "routes")
	str(&x.cluster.listen, "cluster", "cluster_listen")
	str(&fo.Cluster.Name, "cluster_name")
	str(&fo.Cluster.Advertise, "cluster_advertise")
	boolean(&fo.Cluster.NoAdvertise, false, "no_advertise")
	num(&fo.Cluster.ConnectRetries, "connect_retries")
	num(&fo.ProfPort, "profile")
	return x
}

// mergeFlags copies onto file options every option whose flag was given.
func mergeFlags(file, fl *Options, set map[string]bool) *Options {
	o := file
	for _, f := range flagOverrides {
		for _, n := range f.names {
			if set[n] {
				f.copy(o, fl)
				break
			}
		}
	}
	o.CheckConfig = fl.CheckConfig
	o.ConfigFile = fl.ConfigFile
	return o
}

// flagOverrides says, for each option a flag can set, which flag names set
// it and how to copy it from the command line's options over the file's.
var flagOverrides = []struct {
	names []string
	copy  func(dst, src *Options)
}{
	{[]string{"a", "addr", "net"}, func(d, s *Options) { d.Host = s.Host }},
	{[]string{"p", "port"}, func(d, s *Options) { d.Port = s.Port }},
	{[]string{"n", "name", "server_name"}, func(d, s *Options) { d.ServerName = s.ServerName }},
	{[]string{"P", "pid"}, func(d, s *Options) { d.PidFile = s.PidFile }},
	{[]string{"m", "http_port"}, func(d, s *Options) { d.HTTPPort = s.HTTPPort }},
	{[]string{"ms", "https_port"}, func(d, s *Options) { d.HTTPSPort = s.HTTPSPort }},
	{[]string{"client_advertise"}, func(d, s *Options) { d.ClientAdvertise = s.ClientAdvertise }},
	{[]string{"ports_file_dir"}, func(d, s *Options) { d.PortsFileDir = s.PortsFileDir }},
	{[]string{"l", "log"}, func(d, s *Options) { d.LogFile = s.LogFile }},
	{[]string{"T", "logtime"}, func(d, s *Options) { d.Logtime = s.Logtime }},
	{[]string{"logtime_utc"}, func(d, s *Options) { d.LogtimeUTC = s.LogtimeUTC }},
	{[]string{"s", "syslog"}, func(d, s *Options) { d.Syslog = s.Syslog }},
	{[]string{"r", "remote_syslog"}, func(d, s *Options) { d.RemoteSyslog = s.RemoteSyslog }},
	{[]string{"D", "debug"}, func(d, s *Options) { d.Debug = s.Debug }},
	{[]string{"V", "trace", "VV"}, func(d, s *Options) { d.Trace, d.TraceVerbose = s.Trace, s.TraceVerbose }},
	{[]string{"log_size_limit"}, func(d, s *Options) { d.LogSizeLimit = s.LogSizeLimit }},
	{[]string{"max_traced_msg_len"}, func(d, s *Options) { d.MaxTracedMsgLen = s.MaxTracedMsgLen }},
	{[]string{"profile"}, func(d, s *Options) { d.ProfPort = s.ProfPort }},
	{[]string{"js", "jetstream"}, func(d, s *Options) { d.JetStream = s.JetStream }},
	{[]string{"sd", "store_dir"}, func(d, s *Options) { d.StoreDir = s.StoreDir }},
	{[]string{"js_domain"}, func(d, s *Options) { d.JetStreamDomain = s.JetStreamDomain }},
	{[]string{"user"}, func(d, s *Options) { d.Username = s.Username }},
	{[]string{"pass"}, func(d, s *Options) { d.Password = s.Password }},
	{[]string{"auth"}, func(d, s *Options) { d.Authorization = s.Authorization }},
	{tlsFlagNames, func(d, s *Options) { d.TLS = s.TLS }},
	{[]string{"routes"}, func(d, s *Options) { d.Routes = s.Routes }},
	{[]string{"cluster", "cluster_listen"}, func(d, s *Options) {
		d.Cluster.Host, d.Cluster.Port = s.Cluster.Host, s.Cluster.Port
		if s.Cluster.Username != "" {
			d.Cluster.Username, d.Cluster.Password = s.Cluster.Username, s.Cluster.Password
		}
	}},
	{[]string{"cluster_name"}, func(d, s *Options) { d.Cluster.Name, d.Cluster.NameSet = s.Cluster.Name, s.Cluster.NameSet }},
	{[]string{"cluster_advertise"}, func(d, s *Options) { d.Cluster.Advertise = s.Cluster.Advertise }},
	{[]string{"no_advertise"}, func(d, s *Options) { d.Cluster.NoAdvertise = s.Cluster.NoAdvertise }},
	{[]string{"connect_retries"}, func(d, s *Options) { d.Cluster.ConnectRetries = s.Cluster.ConnectRetries }},
}

// clusterFlags are the cluster flags that need parsing.
type clusterFlags struct {
	routes string // --routes: comma separated URLs
	listen string // --cluster / --cluster_listen: nats://[user:pass@]host:port
}

// apply parses the cluster flags that were given into fo.
func (f *clusterFlags) apply(fo *Options, set map[string]bool) error {
	if set["routes"] {
		var list []string
		for _, r := range strings.Split(f.routes, ",") {
			if r = strings.TrimSpace(r); r != "" {
				list = append(list, r)
			}
		}
		urls, err := parseRouteURLs(list)
		if err != nil {
			return err
		}
		fo.Routes = urls
	}
	if set["cluster"] || set["cluster_listen"] {
		u, err := url.Parse(f.listen)
		if err != nil || u.Host == "" {
			return fmt.Errorf("error parsing cluster url %q", f.listen)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			return fmt.Errorf("error parsing cluster url %q: %v", f.listen, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < -1 || n > 65535 {
			return fmt.Errorf("error parsing cluster url %q: invalid port", f.listen)
		}
		fo.Cluster.Host, fo.Cluster.Port = host, n
		if u.User != nil {
			fo.Cluster.Username = u.User.Username()
			fo.Cluster.Password, _ = u.User.Password()
		}
	}
	fo.Cluster.NameSet = fo.Cluster.Name != ""
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FlagError is a command line the flag parser refused.
type FlagError struct{ err error }

func (e *FlagError) Error() string { return e.err.Error() }
func (e *FlagError) Unwrap() error { return e.err }
