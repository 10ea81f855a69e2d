package conf

import (
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds nesting of maps, arrays, includes and environment
// variable expansion so hostile input cannot exhaust the stack.
const maxDepth = 100

// parser reads one source (a file, a string or an environment variable's
// value). Included files get their own parser sharing the variable scopes.
type parser struct {
	src       string
	pos       int
	line      int
	lineStart int
	file      string // reported in positions
	dir       string // base for relative includes
	sh        *shared
	// scopes are the maps under construction, outermost first; their keys
	// double as the variables visible at the current point.
	scopes []map[string]*Value
	depth  int
	// colCache remembers the last column computed so that many values on
	// one long line do not make column counting quadratic.
	colCache mark
	colValue int
}

// mark is a saved position, used to report where a construct began.
type mark struct{ pos, line, lineStart int }

func newParser(src, file, dir string, sh *shared) *parser {
	return &parser{src: src, line: 1, file: file, dir: dir, sh: sh}
}

func (p *parser) mark() mark { return mark{p.pos, p.line, p.lineStart} }

func (p *parser) col(m mark) int {
	from, col := m.lineStart, 1
	if c := p.colCache; c.lineStart == m.lineStart && c.pos <= m.pos && p.colValue > 0 {
		from, col = c.pos, p.colValue
	}
	col += utf8.RuneCountInString(p.src[from:m.pos])
	p.colCache, p.colValue = m, col
	return col
}

// errorAt reports a syntax error that starts at m.
func (p *parser) errorAt(m mark, format string, a ...any) error {
	return &Error{File: p.file, Line: m.line, Col: p.col(m), Msg: fmt.Sprintf(format, a...), Syntax: true}
}

// semanticErrorAt reports a well-formed construct that cannot be resolved
// (an undefined variable, a missing include), which the reference does not
// call a parse error.
func (p *parser) semanticErrorAt(m mark, format string, a ...any) error {
	return &Error{File: p.file, Line: m.line, Col: p.col(m), Msg: fmt.Sprintf(format, a...)}
}

// errorHere reports a problem at the current position.
func (p *parser) errorHere(format string, a ...any) error {
	return p.errorAt(p.mark(), format, a...)
}

func (p *parser) value(m mark, v any) *Value {
	return &Value{V: v, File: p.file, Line: m.line, Col: p.col(m)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// peek returns the current byte, or 0 at end of input.
func (p *parser) peek() byte {
	if p.pos >= len(p.src) {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) advance() {
	if p.src[p.pos] == '\n' {
		p.line++
		p.lineStart = p.pos + 1
	}
	p.pos++
}

// found describes the current input for error messages.
func (p *parser) found() string {
	if p.eof() {
		return "end of file"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	switch r {
	case '\n':
		return "newline"
	case '\r':
		return "carriage return"
	}
	return fmt.Sprintf("%q", r)
}

func (p *parser) atComment() bool {
	c := p.peek()
	return c == '#' || (c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '/')
}

func (p *parser) skipComment() {
	for !p.eof() && p.src[p.pos] != '\n' {
		p.pos++
	}
}

// skipSpace skips blanks within a line.
func (p *parser) skipSpace() {
	for !p.eof() {
		switch p.src[p.pos] {
		case ' ', '\t', '\r':
			p.pos++
		default:
			return
		}
	}
}

// skipBlank skips blanks, newlines and comments.
func (p *parser) skipBlank() {
	for !p.eof() {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.advance()
		case p.atComment():
			p.skipComment()
		default:
			return
		}
	}
}

// parseTop parses a whole source as the implicit top-level map.
func (p *parser) parseTop() (map[string]*Value, error) {
	m := make(map[string]*Value)
	p.scopes = append(p.scopes, m)
	if err := p.parseTopInto(m); err != nil {
		return nil, err
	}
	return m, nil
}

// parseTopInto parses a source's top level into m, which must already be
// the innermost scope. The reference accepts a top level wrapped in braces.
func (p *parser) parseTopInto(m map[string]*Value) error {
	if len(p.src) >= 3 && p.src[:3] == "\xef\xbb\xbf" {
		p.pos = 3
		p.lineStart = 3
	}
	p.skipBlank()
	if p.peek() != '{' {
		return p.parseMapBody(m, mark{}, false)
	}
	open := p.mark()
	p.advance()
	if err := p.parseMapBody(m, open, true); err != nil {
		return err
	}
	p.skipBlank()
	if !p.eof() {
		return p.errorHere("expected end of file after the closing '}' of the top-level map, found %s", p.found())
	}
	return nil
}

// parseMapBody parses entries into m up to the closing '}' (consumed) when
// braced, or up to end of input otherwise.
func (p *parser) parseMapBody(m map[string]*Value, open mark, braced bool) error {
	for {
		p.skipBlank()
		for c := p.peek(); c == ',' || c == ';'; c = p.peek() {
			p.advance()
			p.skipBlank()
		}
		if p.eof() {
			if braced {
				return p.errorHere("unexpected end of file in the map opened at %d:%d", open.line, p.col(open))
			}
			return nil
		}
		if p.peek() == '}' {
			if !braced {
				return p.errorHere("unexpected '}' with no map open")
			}
			p.advance()
			return nil
		}
		if err := p.parseEntry(m, braced); err != nil {
			return err
		}
	}
}

// parseEntry parses one "key value" pair or include directive.
func (p *parser) parseEntry(m map[string]*Value, braced bool) error {
	km := p.mark()
	key, quoted, err := p.parseKey()
	if err != nil {
		return err
	}
	if !quoted && key == "include" && (p.peek() == ' ' || p.peek() == '\t') {
		p.skipSpace()
		if c := p.peek(); c != ':' && c != '=' {
			if err := p.parseInclude(m, km); err != nil {
				return err
			}
			return p.endOfEntry(braced)
		}
	}
	// The reference lets the separator sit on a following line.
	for c := p.peek(); c == ' ' || c == '\t' || c == '\r' || c == '\n'; c = p.peek() {
		p.advance()
	}
	if c := p.peek(); c == ':' || c == '=' {
		p.advance()
	}
	p.skipSpace()
	v, err := p.parseValue(owner{kind: ownerKey, name: key})
	if err != nil {
		return err
	}
	// A copy: a variable's value may be shared by several entries.
	entry := *v
	entry.KeyLine, entry.KeyCol = km.line, p.col(km)
	m[key] = &entry
	return p.endOfEntry(braced)
}

// parseKey reads a quoted key or an unquoted one ending at a blank, ':' or
// '='.
func (p *parser) parseKey() (key string, quoted bool, err error) {
	switch c := p.peek(); c {
	case '"':
		s, err := p.parseDoubleQuoted()
		return s, true, err
	case '\'':
		s, err := p.parseSingleQuoted()
		return s, true, err
	case ':', '=', '[', ']', '{':
		return "", false, p.errorHere("expected a key, found %s", p.found())
	}
	start := p.pos
	for !p.eof() {
		switch p.src[p.pos] {
		case ' ', '\t', '\r', '\n', ':', '=':
			return p.src[start:p.pos], false, nil
		}
		p.pos++
	}
	return p.src[start:p.pos], false, nil
}

// endOfEntry checks what follows a value in a map.
func (p *parser) endOfEntry(braced bool) error {
	p.skipSpace()
	if p.eof() || p.atComment() {
		return nil
	}
	switch p.peek() {
	case '\n', ',', ';':
		return nil
	case '}':
		if braced {
			return nil
		}
	}
	return p.errorHere("expected a newline, ',', ';' or comment after the value, found %s", p.found())
}

// owner says what a value belongs to, for error messages; it is only
// formatted when an error occurs so that parsing does not pay for it.
type owner struct {
	kind int
	name string
	at   mark
}

const (
	ownerKey = iota
	ownerArray
	ownerEnv
)

func (p *parser) describe(o owner) string {
	switch o.kind {
	case ownerArray:
		return fmt.Sprintf("the array opened at %d:%d", o.at.line, p.col(o.at))
	case ownerEnv:
		return fmt.Sprintf("environment variable %q", o.name)
	}
	return fmt.Sprintf("key %q", o.name)
}

// parseValue parses any value starting at the current position.
func (p *parser) parseValue(o owner) (*Value, error) {
	if p.depth >= maxDepth {
		return nil, p.errorHere("nesting deeper than %d levels", maxDepth)
	}
	m := p.mark()
	if p.eof() || p.atComment() {
		return nil, p.errorHere("expected a value for %s, found %s", p.describe(o), p.foundOrComment())
	}
	switch c := p.peek(); c {
	case '{':
		return p.parseMap(m)
	case '[':
		return p.parseArray(m)
	case '"':
		s, err := p.parseDoubleQuoted()
		return p.value(m, s), err
	case '\'':
		s, err := p.parseSingleQuoted()
		return p.value(m, s), err
	case '(':
		return p.parseBlock(m)
	case '$':
		return p.parseVariable(m)
	case '\n', '\r', ',', ';', ']', '}':
		return nil, p.errorHere("expected a value for %s, found %s", p.describe(o), p.found())
	default:
		if c == '-' || isDigit(c) {
			return p.parseNumber(m)
		}
		return p.value(m, p.parseUnquoted()), nil
	}
}

func (p *parser) foundOrComment() string {
	if p.atComment() {
		return "a comment"
	}
	return p.found()
}

func (p *parser) parseMap(open mark) (*Value, error) {
	p.advance()
	m := make(map[string]*Value)
	p.scopes = append(p.scopes, m)
	p.depth++
	err := p.parseMapBody(m, open, true)
	p.depth--
	p.scopes = p.scopes[:len(p.scopes)-1]
	if err != nil {
		return nil, err
	}
	return p.value(open, m), nil
}

// parseArray parses "[ v, v ]"; elements are separated by ',' or newlines
// and a trailing ',' is allowed, but empty elements are not.
func (p *parser) parseArray(open mark) (*Value, error) {
	p.advance()
	p.depth++
	defer func() { p.depth-- }()
	arr := []*Value{}
	o := owner{kind: ownerArray, at: open}
	for {
		p.skipBlank()
		switch p.peek() {
		case ']':
			p.advance()
			return p.value(open, arr), nil
		case ',':
			return nil, p.errorHere("unexpected ',' in %s: empty elements are not allowed", p.describe(o))
		}
		if p.eof() {
			return nil, p.errorHere("unexpected end of file in %s", p.describe(o))
		}
		v, err := p.parseValue(o)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.skipSpace()
		if p.atComment() {
			p.skipComment()
		}
		switch p.peek() {
		case ',':
			p.advance()
		case ']', '\n':
		default:
			if p.eof() {
				return nil, p.errorHere("unexpected end of file in %s", p.describe(o))
			}
			return nil, p.errorHere("expected ',' or ']' after an element of %s, found %s", p.describe(o), p.found())
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
