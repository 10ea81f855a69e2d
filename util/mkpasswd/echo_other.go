//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly && !windows

package main

import (
	"errors"
	"os"
)

// disableEcho has no terminal support here: refusing is better than showing
// a password on screen. Piped input still works.
func disableEcho(f *os.File) (restore func(), err error) {
	if fi, serr := f.Stat(); serr == nil && fi.Mode()&os.ModeCharDevice == 0 {
		return nil, nil
	}
	return nil, errors.New("hiding terminal input is not supported on this platform; pipe the password in")
}
