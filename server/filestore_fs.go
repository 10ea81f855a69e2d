package server

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// storeFS is every filesystem operation the file store performs. The store
// never touches the os package for its files directly, so that tests can run
// it on a filesystem that forgets unsynced writes at a simulated crash or
// fails chosen calls (filestore_fs_test.go). The contract is the POSIX one
// the store relies on:
//
//   - file data written is durable only after the file's Sync;
//   - a created, renamed or removed name is durable only after SyncDir of
//     the directory holding it (for a rename, of both directories);
//   - Rename replaces the target atomically.
type storeFS interface {
	OpenFile(name string, flag int, perm os.FileMode) (storeFile, error)
	ReadFile(name string) ([]byte, error)
	// ReadHead reads at most n bytes from the start of name, and its size:
	// recovery needs only a block's header while the block's index holds.
	ReadHead(name string, n int) ([]byte, int64, error)
	ReadDir(name string) ([]os.DirEntry, error)
	Mkdir(name string, perm os.FileMode) error
	Rename(from, to string) error
	Remove(name string) error
	RemoveAll(name string) error
	Truncate(name string, size int64) error
	SyncDir(name string) error
}

// storeFile is an open file of a storeFS. The store writes at explicit
// offsets only, so files need no seek position.
type storeFile interface {
	WriteAt(p []byte, off int64) (int, error)
	Sync() error
	Close() error
}

// osFS is the real filesystem: each method is the os call of the same name,
// so the write path costs what it did with *os.File.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (storeFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // Not f: a nil *os.File in an interface is not nil.
	}
	return f, nil
}

func (osFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

func (osFS) ReadHead(name string, n int) ([]byte, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	head := make([]byte, min(fi.Size(), int64(n)))
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, 0, err
	}
	return head, fi.Size(), nil
}
func (osFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }
func (osFS) Rename(from, to string) error              { return os.Rename(from, to) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) RemoveAll(name string) error               { return os.RemoveAll(name) }
func (osFS) Truncate(name string, size int64) error    { return os.Truncate(name, size) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsOf returns the filesystem a store configuration names (the real one
// unless a test set another).
func (c *FileStoreConfig) fsOf() storeFS {
	if c.fsys == nil {
		return osFS{}
	}
	return c.fsys
}

// fsMkdirAll creates dir and its missing parents durably: each directory it
// creates is followed by a sync of its parent, so that a crash cannot take
// a stream's directory (and every file in it) away after its files were
// synced. An existing dir costs one mkdir call.
func fsMkdirAll(sys storeFS, dir string) error {
	err := sys.Mkdir(dir, 0o750)
	switch {
	case err == nil:
		return sys.SyncDir(filepath.Dir(dir))
	case errors.Is(err, fs.ErrExist):
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	parent := filepath.Dir(dir)
	if parent == dir {
		return err
	}
	if err := fsMkdirAll(sys, parent); err != nil {
		return err
	}
	if err := sys.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return sys.SyncDir(parent)
}

// fsRemoveAllSync removes dir and makes its removal durable.
func fsRemoveAllSync(sys storeFS, dir string) error {
	if err := sys.RemoveAll(dir); err != nil {
		return err
	}
	return sys.SyncDir(filepath.Dir(dir))
}
