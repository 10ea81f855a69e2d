//go:build windows

package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// disableEcho turns off console echo and returns how to turn it back on; for
// a redirected stdin (no console) it returns a nil restore and no error.
func disableEcho(f *os.File) (restore func(), err error) {
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return nil, nil
	}
	// Line input stays on so Backspace still edits the hidden text.
	if err := windows.SetConsoleMode(h, (mode&^windows.ENABLE_ECHO_INPUT)|windows.ENABLE_LINE_INPUT|windows.ENABLE_PROCESSED_INPUT); err != nil {
		return nil, err
	}
	return func() { _ = windows.SetConsoleMode(h, mode) }, nil
}
