package conf

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// isValueEnd reports whether c ends an unquoted string or variable name.
func isValueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ';', ']', '}':
		return true
	}
	return false
}

// atNumberEnd reports whether a number may end here: like an unquoted
// string, and also before a comment.
func (p *parser) atNumberEnd() bool {
	return p.eof() || isValueEnd(p.src[p.pos]) || p.atComment()
}

func (p *parser) readUnquoted() string {
	start := p.pos
	for p.pos < len(p.src) && !isValueEnd(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// parseUnquoted reads an unquoted word; the reference turns the words
// true/false/yes/no/on/off in any case into booleans.
func (p *parser) parseUnquoted() any {
	s := p.readUnquoted()
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	return s
}

// parseDoubleQuoted reads "..." with the escapes the reference accepts:
// \t \n \r \" \\ and \xXX. Raw newlines are kept.
func (p *parser) parseDoubleQuoted() (string, error) {
	open := p.mark()
	p.advance()
	// Most strings have no escapes: return a slice of the source then.
	for i := p.pos; i < len(p.src) && p.src[i] != '\\'; i++ {
		if p.src[i] == '"' {
			s := p.src[p.pos:i]
			for p.pos <= i {
				p.advance()
			}
			return s, nil
		}
	}
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errorAt(open, "unterminated string: no closing '\"' before end of file")
		}
		c := p.src[p.pos]
		switch c {
		case '"':
			p.advance()
			return b.String(), nil
		case '\\':
			if err := p.parseEscape(&b); err != nil {
				return "", err
			}
			continue
		}
		b.WriteByte(c)
		p.advance()
	}
}

func (p *parser) parseEscape(b *strings.Builder) error {
	esc := p.mark()
	p.advance()
	if p.eof() {
		return p.errorAt(esc, "unterminated escape sequence at end of file")
	}
	c := p.src[p.pos]
	switch c {
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case '"', '\\':
		b.WriteByte(c)
	case 'x':
		if p.pos+2 >= len(p.src) {
			return p.errorAt(esc, "expected two hexadecimal digits after \\x")
		}
		n, err := strconv.ParseUint(p.src[p.pos+1:p.pos+3], 16, 8)
		if err != nil {
			return p.errorAt(esc, "expected two hexadecimal digits after \\x, found %q", p.src[p.pos+1:p.pos+3])
		}
		b.WriteByte(byte(n))
		p.pos += 2
	default:
		return p.errorAt(esc, "invalid escape %s: only \\t, \\n, \\r, \\\", \\\\ and \\xXX are allowed", p.found())
	}
	p.pos++
	return nil
}

// parseSingleQuoted reads '...' verbatim: no escapes at all.
func (p *parser) parseSingleQuoted() (string, error) {
	open := p.mark()
	p.advance()
	start := p.pos
	for !p.eof() {
		if p.src[p.pos] == '\'' {
			s := p.src[start:p.pos]
			p.advance()
			return s, nil
		}
		p.advance()
	}
	return "", p.errorAt(open, "unterminated string: no closing \"'\" before end of file")
}

// parseBlock reads a block string: everything after '(' up to and
// including the newline before a line holding only ')'.
func (p *parser) parseBlock(open mark) (*Value, error) {
	start := p.pos + 1
	i := start
	for {
		j := strings.Index(p.src[i:], "\n)")
		if j < 0 {
			return nil, p.errorAt(open, "unterminated block string: expected a line holding only ')'")
		}
		end := i + j + 1 // the ')'
		rest := p.src[end+1:]
		if rest == "" || rest[0] == '\n' || strings.HasPrefix(rest, "\r\n") {
			s := p.src[start:end]
			for p.pos <= end {
				p.advance()
			}
			return p.value(open, s), nil
		}
		i = end
	}
}

// sizeSuffixes maps the integer suffixes the reference accepts (in any
// case) to multipliers: a bare letter is decimal, "b", "i" and "ib" binary.
var sizeSuffixes = map[string]int64{
	"k": 1e3, "kb": 1 << 10, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1 << 20, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1 << 30, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1 << 40, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1 << 50, "pi": 1 << 50, "pib": 1 << 50,
	"e": 1e18, "eb": 1 << 60, "ei": 1 << 60, "eib": 1 << 60,
}

// parseNumber handles everything starting with a digit or '-': integers
// with optional size suffix, floats, datetimes, and (for non-negative
// starts) words like "2s", "127.0.0.1:4222" or "0x10" that the reference
// keeps as strings.
func (p *parser) parseNumber(m mark) (*Value, error) {
	neg := p.peek() == '-'
	if neg {
		p.pos++
		if !isDigit(p.peek()) {
			return nil, p.errorHere("expected a digit after '-', found %s", p.found())
		}
	}
	p.skipDigits()
	digitsEnd := p.pos
	switch c := p.peek(); {
	case c == '-' && !neg:
		return p.parseDatetime(m)
	case c == '.':
		return p.parseFloat(m)
	case p.atNumberEnd():
		return p.makeInt(m, p.src[m.pos:p.pos], 1)
	case isLetter(c):
		for p.pos < len(p.src) && isLetter(p.src[p.pos]) {
			p.pos++
		}
		if mult, ok := sizeSuffixes[strings.ToLower(p.src[digitsEnd:p.pos])]; ok && p.atNumberEnd() {
			return p.makeInt(m, p.src[m.pos:digitsEnd], mult)
		}
	}
	if neg {
		p.pos = digitsEnd
		return nil, p.errorHere("unexpected %s after number", p.found())
	}
	p.readUnquoted()
	return p.value(m, p.src[m.pos:p.pos]), nil
}

func (p *parser) skipDigits() {
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		p.pos++
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (p *parser) makeInt(m mark, digits string, mult int64) (*Value, error) {
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || (n != 0 && (n > math.MaxInt64/mult || n < math.MinInt64/mult)) {
		return nil, p.errorAt(m, "integer %q is out of range", p.src[m.pos:p.pos])
	}
	return p.value(m, n*mult), nil
}

// parseFloat continues after "digits" at a '.': a second '.' makes the
// whole word a string, as for IP addresses.
func (p *parser) parseFloat(m mark) (*Value, error) {
	p.pos++
	if !isDigit(p.peek()) {
		return nil, p.errorHere("expected a digit after '.' in number, found %s", p.found())
	}
	p.skipDigits()
	if p.peek() == '.' {
		p.readUnquoted()
		return p.value(m, p.src[m.pos:p.pos]), nil
	}
	if !p.atNumberEnd() {
		return nil, p.errorHere("unexpected %s after number", p.found())
	}
	f, err := strconv.ParseFloat(p.src[m.pos:p.pos], 64)
	if err != nil {
		return nil, p.errorAt(m, "float %q is out of range", p.src[m.pos:p.pos])
	}
	return p.value(m, f), nil
}

const datetimeLayout = "2006-01-02T15:04:05Z"

func (p *parser) parseDatetime(m mark) (*Value, error) {
	for !p.atNumberEnd() {
		p.pos++
	}
	s := p.src[m.pos:p.pos]
	t, err := time.Parse(datetimeLayout, s)
	if err != nil {
		return nil, p.errorAt(m, "invalid datetime %q: expected the full ISO-8601 Zulu form YYYY-MM-DDTHH:MM:SSZ", s)
	}
	return p.value(m, t), nil
}
