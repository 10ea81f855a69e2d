package server

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// memFS is a strict in-memory storeFS for crash and fault tests. It keeps
// two views: what the process sees, and what a power cut would leave. File
// data reaches the durable view only through the file's Sync; a created,
// renamed or removed name only through SyncDir of its directory, and a
// directory's entries are durable only while the directory itself is.
// crashCopy returns the filesystem a machine would reboot with.
//
// fault, if set, is asked before every call (op is one of open, read,
// readdir, mkdir, rename, remove, removeall, truncate, syncdir, write,
// sync) and the call fails with the error it returns. A write failing with
// ENOSPC writes half its bytes first, as a full disk may; others write none.
type memFS struct {
	mu      sync.Mutex
	cur     map[string]*memNode // What the process sees.
	durable map[string]*memNode // Names a crash keeps (their data: ino.synced).
	fault   atomic.Pointer[func(op, name string) error]
	// torn, if set, makes crashCopy keep a random prefix of the bytes
	// appended to a file since its last Sync, as a partial write-back would.
	torn *rand.Rand
}

type memNode struct {
	dir bool
	ino *memInode
}

type memInode struct {
	data   []byte
	synced []byte
}

func newMemFS() *memFS {
	root := &memNode{dir: true}
	return &memFS{cur: map[string]*memNode{"/": root}, durable: map[string]*memNode{"/": root}}
}

func memErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *memFS) check(op, name string) error {
	if f := m.fault.Load(); f != nil {
		return (*f)(op, name)
	}
	return nil
}

// setFault sets (nil: clears) the fault hook, also while the store runs.
func (m *memFS) setFault(f func(op, name string) error) {
	if f == nil {
		m.fault.Store(nil)
		return
	}
	m.fault.Store(&f)
}

func (m *memFS) parentDirLocked(name string) bool {
	p := m.cur[filepath.Dir(name)]
	return p != nil && p.dir
}

type memFile struct {
	m      *memFS
	name   string
	ino    *memInode
	closed bool
}

func (m *memFS) OpenFile(name string, flag int, perm os.FileMode) (storeFile, error) {
	name = filepath.Clean(name)
	if err := m.check("open", name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.cur[name]
	switch {
	case n != nil && n.dir:
		return nil, memErr("open", name, syscall.EISDIR)
	case n == nil && flag&os.O_CREATE == 0:
		return nil, memErr("open", name, fs.ErrNotExist)
	case n == nil:
		if !m.parentDirLocked(name) {
			return nil, memErr("open", name, fs.ErrNotExist)
		}
		n = &memNode{ino: &memInode{}}
		m.cur[name] = n
	case flag&os.O_TRUNC != 0:
		n.ino.data = nil
	}
	return &memFile{m: m, name: name, ino: n.ino}, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	ferr := f.m.check("write", f.name)
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return 0, memErr("write", f.name, fs.ErrClosed)
	}
	n := len(p)
	if errors.Is(ferr, syscall.ENOSPC) {
		n /= 2
	} else if ferr != nil {
		n = 0
	}
	if end := int(off) + n; end > len(f.ino.data) {
		f.ino.data = append(f.ino.data, make([]byte, end-len(f.ino.data))...)
	}
	copy(f.ino.data[off:], p[:n])
	if ferr != nil {
		return n, ferr
	}
	return n, nil
}

func (f *memFile) Sync() error {
	if err := f.m.check("sync", f.name); err != nil {
		return err
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return memErr("sync", f.name, fs.ErrClosed)
	}
	f.ino.synced = bytes.Clone(f.ino.data)
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return memErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	name = filepath.Clean(name)
	if err := m.check("read", name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.cur[name]
	if n == nil {
		return nil, memErr("read", name, fs.ErrNotExist)
	}
	if n.dir {
		return nil, memErr("read", name, syscall.EISDIR)
	}
	return bytes.Clone(n.ino.data), nil
}

func (m *memFS) ReadHead(name string, n int) ([]byte, int64, error) {
	data, err := m.ReadFile(name)
	if err != nil {
		return nil, 0, err
	}
	return data[:min(n, len(data))], int64(len(data)), nil
}

type memDirEntry struct {
	name string
	dir  bool
}

func (e memDirEntry) Name() string { return e.name }
func (e memDirEntry) IsDir() bool  { return e.dir }
func (e memDirEntry) Type() fs.FileMode {
	if e.dir {
		return fs.ModeDir
	}
	return 0
}
func (e memDirEntry) Info() (fs.FileInfo, error) { return nil, errors.New("memFS: no file info") }

func (m *memFS) ReadDir(name string) ([]os.DirEntry, error) {
	name = filepath.Clean(name)
	if err := m.check("readdir", name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.cur[name]; n == nil || !n.dir {
		return nil, memErr("readdir", name, fs.ErrNotExist)
	}
	var out []os.DirEntry
	for p, n := range m.cur {
		if p != "/" && filepath.Dir(p) == name {
			out = append(out, memDirEntry{filepath.Base(p), n.dir})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *memFS) Mkdir(name string, perm os.FileMode) error {
	name = filepath.Clean(name)
	if err := m.check("mkdir", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur[name] != nil {
		return memErr("mkdir", name, fs.ErrExist)
	}
	if !m.parentDirLocked(name) {
		return memErr("mkdir", name, fs.ErrNotExist)
	}
	m.cur[name] = &memNode{dir: true}
	return nil
}

func (m *memFS) Rename(from, to string) error {
	from, to = filepath.Clean(from), filepath.Clean(to)
	if err := m.check("rename", from); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.cur[from]
	if n == nil || n.dir {
		return memErr("rename", from, fs.ErrNotExist)
	}
	if t := m.cur[to]; (t != nil && t.dir) || !m.parentDirLocked(to) {
		return memErr("rename", to, fs.ErrInvalid)
	}
	m.cur[to] = n
	delete(m.cur, from)
	return nil
}

func (m *memFS) Remove(name string) error {
	name = filepath.Clean(name)
	if err := m.check("remove", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur[name] == nil {
		return memErr("remove", name, fs.ErrNotExist)
	}
	for p := range m.cur {
		if strings.HasPrefix(p, name+"/") {
			return memErr("remove", name, syscall.ENOTEMPTY)
		}
	}
	delete(m.cur, name)
	return nil
}

func (m *memFS) RemoveAll(name string) error {
	name = filepath.Clean(name)
	if err := m.check("removeall", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.cur {
		if p == name || strings.HasPrefix(p, name+"/") {
			delete(m.cur, p)
		}
	}
	return nil
}

func (m *memFS) Truncate(name string, size int64) error {
	name = filepath.Clean(name)
	if err := m.check("truncate", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.cur[name]
	if n == nil || n.dir {
		return memErr("truncate", name, fs.ErrNotExist)
	}
	if int(size) <= len(n.ino.data) {
		n.ino.data = n.ino.data[:size:size]
	} else {
		n.ino.data = append(n.ino.data, make([]byte, int(size)-len(n.ino.data))...)
	}
	return nil
}

func (m *memFS) SyncDir(name string) error {
	name = filepath.Clean(name)
	if err := m.check("syncdir", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.cur[name]; n == nil || !n.dir {
		return memErr("syncdir", name, fs.ErrNotExist)
	}
	for p := range m.durable {
		if p != "/" && filepath.Dir(p) == name && m.cur[p] == nil {
			delete(m.durable, p)
		}
	}
	for p, n := range m.cur {
		if p != "/" && filepath.Dir(p) == name {
			m.durable[p] = n
		}
	}
	return nil
}

// crashCopy returns what a reboot would find: the durable names whose
// every ancestor is durable, with their synced data (plus, with torn, a
// random part of what was appended since).
func (m *memFS) crashCopy() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := newMemFS()
	inos := map[*memInode]*memInode{}
	paths := make([]string, 0, len(m.durable))
	for p := range m.durable {
		paths = append(paths, p)
	}
	sort.Strings(paths) // Parents before children; deterministic tearing.
	for _, p := range paths {
		n := m.durable[p]
		if p == "/" || out.cur[filepath.Dir(p)] == nil {
			continue
		}
		if n.dir {
			out.cur[p] = &memNode{dir: true}
		} else {
			ino := inos[n.ino]
			if ino == nil {
				ino = &memInode{data: m.survivingData(n.ino)}
				ino.synced = bytes.Clone(ino.data)
				inos[n.ino] = ino
			}
			out.cur[p] = &memNode{ino: ino}
		}
		out.durable[p] = out.cur[p]
	}
	return out
}

func (m *memFS) survivingData(ino *memInode) []byte {
	keep := bytes.Clone(ino.synced)
	if m.torn == nil || len(ino.data) <= len(keep) || !bytes.Equal(ino.data[:len(keep)], keep) {
		return keep
	}
	extra := ino.data[len(keep):]
	return append(keep, extra[:m.torn.Intn(len(extra)+1)]...)
}

// memFault fails the nth call (counting from 1) with err and counts calls.
type memFault struct {
	mu    sync.Mutex
	calls int
	nth   int
	err   error
	hit   string // The call that failed, for messages.
}

func (f *memFault) check(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == f.nth {
		f.hit = op + " " + name
		return memErr(op, name, f.err)
	}
	return nil
}

// memWaitFor polls cond until it holds or the deadline passes.
func memWaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cond()
}
