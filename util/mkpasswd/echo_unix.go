//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// disableEcho turns off echo on a terminal and returns how to turn it back
// on; for anything that is not a terminal (a pipe, a file) it returns a nil
// restore and no error, as there is nothing to hide.
func disableEcho(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, nil
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	// Keep canonical mode so the kernel still handles line editing and
	// signals so Ctrl-C can abort the prompt.
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &noEcho); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }, nil
}
