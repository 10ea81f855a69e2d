// Command nats-server is a NATS-compatible message server.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/natsforge/nats-server/server"
)

const usageStr = `
Usage: nats-server [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to nats-server process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/nats-server.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -s, --syslog                     Log to syslog or windows event log
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	opts, res, err := server.ConfigureOptions(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Printf("%s\n", usageStr)
			return 0
		}
		var fe *server.FlagError
		if errors.As(err, &fe) {
			// The reference prints the flag package's words, then usage.
			fmt.Fprintf(os.Stderr, "%s\n%s\n", err, usageStr)
			return 1
		}
		fmt.Fprintf(os.Stderr, "nats-server: %s\n", err)
		return 1
	}
	switch {
	case res.ShowHelp:
		fmt.Printf("%s\n", usageStr)
		return 0
	case res.ShowVersion:
		fmt.Printf("nats-server: v%s\n", server.VERSION)
		return 0
	case res.ShowTLSHelp:
		fmt.Printf("%s\n", server.TLSHelp())
		return 0
	case res.Signal != "":
		if err := server.ProcessSignal(res.Signal); err != nil {
			fmt.Fprintf(os.Stderr, "nats-server: %s\n", err)
			return 1
		}
		return 0
	}
	if opts.CheckConfig {
		// -t is strict: warnings fail the check, as with the reference.
		if w := opts.ConfigWarnings(); len(w) > 0 {
			for _, e := range w {
				fmt.Fprintf(os.Stderr, "nats-server: %s\n", e)
			}
			return 1
		}
		if _, err := server.NewServer(opts); err != nil {
			fmt.Fprintf(os.Stderr, "nats-server: %s\n", err)
			return 1
		}
		fmt.Printf("nats-server: configuration file %s is valid (sha256:%s)\n", opts.ConfigFile, opts.ConfigDigest())
		return 0
	}
	for _, w := range opts.ConfigWarnings() {
		fmt.Fprintf(os.Stderr, "%s\n", w)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nats-server: %s\n", err)
		return 1
	}
	if err := s.ConfigureLogger(); err != nil {
		fmt.Fprintf(os.Stderr, "nats-server: %s\n", err)
		return 1
	}
	// Run is the service runner on Windows, Start and wait elsewhere.
	if err := server.Run(s); err != nil {
		s.Fatalf("%s", err) // exits, as the reference does
		return 1
	}
	return 0
}
