package server

import (
	"errors"
	"flag"
	"fmt"
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
	var dbgAndTrace, trcVerbose, dbgAndTrcVerbose bool
	var ignored string
	var ignoredInt int
	var tf tlsFlags

	fs.SetOutput(discard{})
	fs.BoolVar(&res.ShowHelp, "h", false, "")
	fs.BoolVar(&res.ShowHelp, "help", false, "")
	fs.BoolVar(&res.ShowVersion, "v", false, "")
	fs.BoolVar(&res.ShowVersion, "version", false, "")
	fs.BoolVar(&res.ShowTLSHelp, "help_tls", false, "")
	for _, n := range []string{"a", "addr", "net"} {
		fs.StringVar(&fo.Host, n, "", "")
	}
	fs.IntVar(&fo.Port, "p", 0, "")
	fs.IntVar(&fo.Port, "port", 0, "")
	for _, n := range []string{"n", "name", "server_name"} {
		fs.StringVar(&fo.ServerName, n, "", "")
	}
	fs.StringVar(&fo.PidFile, "P", "", "")
	fs.StringVar(&fo.PidFile, "pid", "", "")
	fs.IntVar(&fo.HTTPPort, "m", 0, "")
	fs.IntVar(&fo.HTTPPort, "http_port", 0, "")
	fs.IntVar(&fo.HTTPSPort, "ms", 0, "")
	fs.IntVar(&fo.HTTPSPort, "https_port", 0, "")
	fs.StringVar(&fo.ConfigFile, "c", "", "")
	fs.StringVar(&fo.ConfigFile, "config", "", "")
	fs.BoolVar(&fo.CheckConfig, "t", false, "")
	fs.StringVar(&res.Signal, "sl", "", "")
	fs.StringVar(&res.Signal, "signal", "", "")
	fs.StringVar(&fo.ClientAdvertise, "client_advertise", "", "")
	fs.StringVar(&fo.PortsFileDir, "ports_file_dir", "", "")
	fs.StringVar(&fo.LogFile, "l", "", "")
	fs.StringVar(&fo.LogFile, "log", "", "")
	fs.BoolVar(&fo.Logtime, "T", true, "")
	fs.BoolVar(&fo.Logtime, "logtime", true, "")
	fs.BoolVar(&fo.LogtimeUTC, "logtime_utc", false, "")
	fs.BoolVar(&fo.Syslog, "s", false, "")
	fs.BoolVar(&fo.Syslog, "syslog", false, "")
	fs.StringVar(&fo.RemoteSyslog, "r", "", "")
	fs.StringVar(&fo.RemoteSyslog, "remote_syslog", "", "")
	fs.BoolVar(&fo.Debug, "D", false, "")
	fs.BoolVar(&fo.Debug, "debug", false, "")
	fs.BoolVar(&fo.Trace, "V", false, "")
	fs.BoolVar(&fo.Trace, "trace", false, "")
	fs.BoolVar(&trcVerbose, "VV", false, "")
	fs.BoolVar(&dbgAndTrace, "DV", false, "")
	fs.BoolVar(&dbgAndTrcVerbose, "DVV", false, "")
	fs.Int64Var(&fo.LogSizeLimit, "log_size_limit", 0, "")
	fs.IntVar(&fo.MaxTracedMsgLen, "max_traced_msg_len", 0, "")
	fs.BoolVar(&fo.JetStream, "js", false, "")
	fs.BoolVar(&fo.JetStream, "jetstream", false, "")
	fs.StringVar(&fo.StoreDir, "sd", "", "")
	fs.StringVar(&fo.StoreDir, "store_dir", "", "")
	fs.StringVar(&fo.Username, "user", "", "")
	fs.StringVar(&fo.Password, "pass", "", "")
	fs.StringVar(&fo.Authorization, "auth", "", "")
	tf.register(fs)
	// Accepted now so that existing command lines parse; served by the
	// cluster issue, refused until then if used.
	for _, n := range []string{"routes", "cluster", "cluster_name",
		"cluster_advertise", "cluster_listen", "no_advertise"} {
		fs.StringVar(&ignored, n, "", "")
	}
	fs.IntVar(&ignoredInt, "connect_retries", 0, "")
	fs.IntVar(&ignoredInt, "profile", 0, "")

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
	if dbgAndTrace || dbgAndTrcVerbose {
		fo.Debug, fo.Trace = true, true
	}
	if trcVerbose || dbgAndTrcVerbose {
		fo.Trace, fo.TraceVerbose = true, true
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := tf.apply(fo, set); err != nil {
		return nil, nil, err
	}
	for _, n := range []string{"routes", "cluster", "cluster_name", "cluster_listen", "js", "jetstream"} {
		if set[n] {
			fo.unsupported = append(fo.unsupported, "--"+n)
		}
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
	{[]string{"js", "jetstream"}, func(d, s *Options) { d.JetStream = s.JetStream }},
	{[]string{"sd", "store_dir"}, func(d, s *Options) { d.StoreDir = s.StoreDir }},
	{[]string{"user"}, func(d, s *Options) { d.Username = s.Username }},
	{[]string{"pass"}, func(d, s *Options) { d.Password = s.Password }},
	{[]string{"auth"}, func(d, s *Options) { d.Authorization = s.Authorization }},
	{tlsFlagNames, func(d, s *Options) { d.TLS = s.TLS }},
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FlagError is a command line the flag parser refused.
type FlagError struct{ err error }

func (e *FlagError) Error() string { return e.err.Error() }
func (e *FlagError) Unwrap() error { return e.err }
