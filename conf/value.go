// Package conf parses the NATS server configuration language.
//
// The format is a relaxed superset of JSON: the top level is an implicit
// map, keys and values are separated by ':', '=' or whitespace, entries by
// newlines, ',' or ';', and values may be maps ({...}), arrays ([...]),
// double-quoted strings with \t \n \r \" \\ and \xXX escapes, raw
// single-quoted strings, block strings ("key (" up to a line holding only
// ")"), unquoted strings, integers with size suffixes, floats, booleans,
// ISO-8601 Zulu datetimes and $variables. "include <path>" merges another
// file into the enclosing map.
//
// Every parsed value remembers where it was written so that the option layer
// can report mistakes precisely.
package conf

import (
	"fmt"
	"strconv"
)

// Value is a parsed value with where it came from.
type Value struct {
	// V is one of: map[string]*Value, []*Value, string, int64, float64,
	// bool, time.Time.
	V    any
	File string // "" when parsed from a string
	Line int    // 1-based
	Col  int    // 1-based, counted in characters
	// KeyLine and KeyCol are where the key of a map entry was written
	// (zero for array elements and the top level), so that errors about an
	// entry point at its key, as the reference's do.
	KeyLine int
	KeyCol  int
	// UsedAsVariable is set on an entry that a later $NAME referred to.
	UsedAsVariable bool
}

// Plain returns the value with positions stripped: maps become
// map[string]any, arrays []any, scalars are returned unchanged.
func (v *Value) Plain() any {
	if v == nil {
		return nil
	}
	switch x := v.V.(type) {
	case map[string]*Value:
		return plainMap(x)
	case []*Value:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e.Plain()
		}
		return out
	default:
		return x
	}
}

// Pos returns "file:line:col", or "line:col" for a value parsed from a
// string.
func (v *Value) Pos() string {
	return formatPos(v.File, v.Line, v.Col)
}

// Error is a syntax or semantic error with the place it was found.
type Error struct {
	File      string
	Line, Col int
	Msg       string
	// Syntax marks a malformed file (as opposed to, say, an undefined
	// variable); its text carries the reference's "Parse error on line N"
	// as well, which tools such as nats.py's server launcher look for.
	Syntax bool
}

// Error formats the error as "file:line:col: msg" (or "line:col: msg"); a
// syntax error reads "file:line:col: Parse error on line N: 'msg'".
func (e *Error) Error() string {
	pos := formatPos(e.File, e.Line, e.Col)
	if e.Syntax {
		return pos + ": Parse error on line " + strconv.Itoa(e.Line) + ": '" + e.Msg + "'"
	}
	return pos + ": " + e.Msg
}

func formatPos(file string, line, col int) string {
	if file == "" {
		return fmt.Sprintf("%d:%d", line, col)
	}
	return fmt.Sprintf("%s:%d:%d", file, line, col)
}

func plainMap(m map[string]*Value) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v.Plain()
	}
	return out
}

// Parse parses a configuration held in a string. Relative include paths are
// resolved against the current working directory.
func Parse(data string) (map[string]*Value, error) {
	p := newParser(data, "", "", newShared())
	return p.parseTop()
}

// ParseFile parses the configuration file at path. Values and errors carry
// path (as given) for the file they come from; includes are resolved
// relative to the including file's directory.
func ParseFile(path string) (map[string]*Value, error) {
	return parseFile(path)
}

// ParsePlain is Parse with positions stripped.
func ParsePlain(data string) (map[string]any, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return plainMap(m), nil
}

// ParseFilePlain is ParseFile with positions stripped.
func ParseFilePlain(path string) (map[string]any, error) {
	m, err := ParseFile(path)
	if err != nil {
		return nil, err
	}
	return plainMap(m), nil
}
