//go:build linux

package main

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY gives a real terminal for the echo tests without needing one
// attached to the test process.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return slave
}

func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

func TestDisableEchoOnTerminal(t *testing.T) {
	tty := openPTY(t)
	if !echoOn(t, tty) {
		t.Fatal("fresh pty should echo")
	}
	restore, err := disableEcho(tty)
	if err != nil || restore == nil {
		t.Fatalf("disableEcho: %v (restore nil: %v)", err, restore == nil)
	}
	if echoOn(t, tty) {
		t.Fatal("echo still on")
	}
	restore()
	if !echoOn(t, tty) {
		t.Fatal("echo not restored")
	}
}

func TestDisableEchoOnPipeIsNoop(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	restore, err := disableEcho(r)
	if err != nil || restore != nil {
		t.Fatalf("want no-op on a pipe, got restore=%v err=%v", restore != nil, err)
	}
}
