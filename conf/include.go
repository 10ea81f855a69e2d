package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxFileSize bounds what an include may read.
const maxFileSize = 64 << 20

// shared is the state common to all parsers of one Parse/ParseFile call.
type shared struct {
	includes []string // absolute paths of the files being parsed, outermost first
	envStack []string // environment variables being expanded
}

func newShared() *shared { return &shared{} }

// open checks path for cycles and depth, reads it and pushes it on the
// include stack; the caller pops it with done.
func (sh *shared) open(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	for i, a := range sh.includes {
		if a == abs {
			chain := append(append([]string{}, sh.includes[i:]...), abs)
			return "", fmt.Errorf("include cycle: %s", strings.Join(chain, " -> "))
		}
	}
	if len(sh.includes) >= maxDepth {
		return "", fmt.Errorf("includes nested deeper than %d levels", maxDepth)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxFileSize {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sh.includes = append(sh.includes, abs)
	return string(data), nil
}

func (sh *shared) done() { sh.includes = sh.includes[:len(sh.includes)-1] }

// parseFile parses a whole file as a top-level map (ParseFile's entry).
func parseFile(path string) (map[string]*Value, error) {
	sh := newShared()
	data, err := sh.open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer sh.done()
	return newParser(data, path, filepath.Dir(path), sh).parseTop()
}

// parseInclude handles "include <path>": the file, resolved against the
// including file's directory, is parsed into m, seeing and defining
// variables in the current scope.
func (p *parser) parseInclude(m map[string]*Value, at mark) error {
	pm := p.mark()
	var path string
	var err error
	switch p.peek() {
	case '"':
		path, err = p.parseDoubleQuoted()
	case '\'':
		path, err = p.parseSingleQuoted()
	default:
		path = p.readUnquoted()
	}
	if err != nil {
		return err
	}
	if path == "" {
		return p.errorAt(pm, "expected a file name after include, found %s", p.found())
	}
	full := path
	if !filepath.IsAbs(path) && p.dir != "" {
		full = filepath.Join(p.dir, path)
	}
	data, err := p.sh.open(full)
	if err != nil {
		return p.semanticErrorAt(at, "include %q: %v", path, err)
	}
	defer p.sh.done()
	sub := newParser(data, full, filepath.Dir(full), p.sh)
	sub.scopes = p.scopes
	sub.depth = p.depth + 1
	return sub.parseTopInto(m)
}
