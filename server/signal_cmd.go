package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The -sl helpers below are plain Go so that they are tested on every
// platform; signal.go and signal_windows.go deliver the result.

// serverProcessName is what -sl without a pid looks for, as the reference's
// "pgrep nats-server" does: a substring of the process name.
const serverProcessName = "nats-server"

// parseSignalArg splits "cmd[=target]". An empty target means "find the
// process". The command is validated by the caller once the target is known
// because the reference reports a missing process before a bad command.
func parseSignalArg(arg string) (cmd, target string, err error) {
	cmd, target, _ = strings.Cut(arg, "=")
	if cmd == "" {
		return "", "", errors.New("missing signal command")
	}
	return cmd, target, nil
}

func errUnknownSignal(cmd string) error { return fmt.Errorf("unknown signal %q", cmd) }

// signalFailed words a failed delivery as the reference does, leading
// newline included: its errors for several pids are joined line by line.
func signalFailed(cmd string, pid int, err error) error {
	return fmt.Errorf("\nsignal %q %d: %v", cmd, pid, err)
}

// signalTargets resolves an -sl target to the pids to signal: none given
// means the one running nats-server; a glob such as "12*" means every running
// nats-server whose pid matches (possibly none); otherwise a pid or a pid
// file.
func signalTargets(procRoot string, self int, target string) ([]int, error) {
	if target == "" {
		pid, err := findServerPID(procRoot, self)
		if err != nil {
			return nil, err
		}
		return []int{pid}, nil
	}
	if isPIDGlob(target) {
		all, err := serverPIDs(procRoot, self)
		if err != nil {
			return nil, err
		}
		var pids []int
		for _, p := range all {
			if ok, _ := path.Match(target, strconv.Itoa(p)); ok {
				pids = append(pids, p)
			}
		}
		return pids, nil
	}
	pid, err := resolvePID(target)
	if err != nil {
		return nil, err
	}
	return []int{pid}, nil
}

// isPIDGlob tells a pid pattern from a pid or a file name: it has glob
// characters and is a well-formed pattern (else it is taken as a file).
func isPIDGlob(s string) bool {
	if !strings.ContainsAny(s, "*?[") {
		return false
	}
	_, err := path.Match(s, "")
	return err == nil
}

// sendToAll delivers with send to every pid and joins the failures, one
// "\nsignal ..." line each, as the reference words them.
func sendToAll(cmd string, pids []int, send func(pid int) error) error {
	var b strings.Builder
	for _, pid := range pids {
		if err := send(pid); err != nil {
			b.WriteString(signalFailed(cmd, pid, err).Error())
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return errors.New(b.String())
}

// resolvePID reads a pid given directly or through a pid file. The reference
// reports the pid file's content, or the argument itself when no file by
// that name can be read, untrimmed.
func resolvePID(target string) (int, error) {
	if pid, err := strconv.Atoi(target); err == nil {
		return checkPID(pid, target)
	}
	s := target
	if b, ok := readPIDFile(target); ok {
		s = b
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid pid: %s", s)
	}
	return checkPID(pid, s)
}

// maxPIDFile bounds what is read of a pid file: a pid is a few bytes, and a
// mistaken target such as /dev/zero must not be read forever.
const maxPIDFile = 4096

// readPIDFile returns the start of a regular file; anything else (missing,
// a directory, a device or a fifo that could block) is not a pid file.
func readPIDFile(name string) (string, bool) {
	fi, err := os.Stat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	f, err := os.Open(name)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPIDFile))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// checkPID refuses pids that would signal a process group or every process
// (kill(2) gives 0 and negative pids that meaning).
func checkPID(pid int, s string) (int, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("invalid pid: %s", s)
	}
	return pid, nil
}

// findServerPID looks through procRoot (/proc) for processes whose name
// contains nats-server, other than self.
func findServerPID(procRoot string, self int) (int, error) {
	pids, err := serverPIDs(procRoot, self)
	if err != nil {
		return 0, err
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

// serverPIDs lists, in ascending order, the pids under procRoot whose
// "comm" (the kernel's process name) contains serverProcessName.
func serverPIDs(procRoot string, self int) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("unable to list processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 0 {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "comm"))
		if err != nil || !strings.Contains(string(comm), serverProcessName) {
			continue
		}
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids, nil
}
