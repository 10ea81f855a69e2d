//go:build !windows

package server

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// handleSignals stops the server gracefully on SIGINT and SIGTERM.
func (s *Server) handleSignals() {
	if s.getOpts().NoSigs {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			s.Noticef("Trapped %q signal", sig)
			s.Shutdown()
			os.Exit(0)
		case <-s.quitCh:
			signal.Stop(ch)
		}
	}()
}

// signalCommands maps -sl commands to signals, as the reference does.
var signalCommands = map[string]syscall.Signal{
	"stop":   syscall.SIGKILL,
	"quit":   syscall.SIGINT,
	"term":   syscall.SIGTERM,
	"reopen": syscall.SIGUSR1,
	"reload": syscall.SIGHUP,
	"ldm":    syscall.SIGUSR2,
}

// ProcessSignal sends the signal named by an -sl argument, "cmd" or
// "cmd=<pid or pid file>", to a running nats-server. Without a pid it looks
// for the one nats-server process of this machine.
func ProcessSignal(arg string) error {
	cmd, target, _ := strings.Cut(arg, "=")
	sig, ok := signalCommands[cmd]
	if !ok {
		return fmt.Errorf("unknown signal %q", cmd)
	}
	var pid int
	var err error
	if target == "" {
		pid, err = findServerPID()
	} else {
		pid, err = resolvePID(target)
	}
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %q %d: %v", cmd, pid, err)
	}
	return nil
}

// resolvePID reads a pid given directly or through a pid file.
func resolvePID(target string) (int, error) {
	if pid, err := strconv.Atoi(target); err == nil {
		return pid, nil
	}
	b, err := os.ReadFile(target)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("invalid pid in %s: %q", target, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// findServerPID scans /proc for processes named nats-server other than
// this one.
func findServerPID() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "nats-server" {
			continue
		}
		pids = append(pids, pid)
	}
	switch len(pids) {
	case 0:
		return 0, errors.New("no nats-server processes running")
	case 1:
		return pids[0], nil
	}
	var b strings.Builder
	b.WriteString("multiple nats-server processes running:")
	for _, p := range pids {
		fmt.Fprintf(&b, "\n%d", p)
	}
	return 0, errors.New(b.String())
}
