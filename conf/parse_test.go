package conf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustPlain(t *testing.T, src string) map[string]any {
	t.Helper()
	m, err := ParsePlain(src)
	if err != nil {
		t.Fatalf("ParsePlain(%q): %v", src, err)
	}
	return m
}

func TestValues(t *testing.T) {
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		src  string
		want any
	}{
		{"v: 1", int64(1)},
		{"v: -42", int64(-42)},
		{"v: 0123", int64(123)},
		{"v: 2k", int64(2000)},
		{"v: 2K", int64(2000)},
		{"v: 2kb", int64(2048)},
		{"v: 2KiB", int64(2048)},
		{"v: 2ki", int64(2048)},
		{"v: 3m", int64(3000000)},
		{"v: 3mb", int64(3 << 20)},
		{"v: 3MI", int64(3 << 20)},
		{"v: 3mib", int64(3 << 20)},
		{"v: 1g", int64(1e9)},
		{"v: 1gb", int64(1 << 30)},
		{"v: 1gi", int64(1 << 30)},
		{"v: 1GIB", int64(1 << 30)},
		{"v: 1t", int64(1e12)},
		{"v: 1tb", int64(1 << 40)},
		{"v: 1p", int64(1e15)},
		{"v: 1pib", int64(1 << 50)},
		{"v: 1e", int64(1e18)},
		{"v: 1eb", int64(1 << 60)},
		{"v: -3k", int64(-3000)},
		{"v: 1.5", 1.5},
		{"v: -1.5", -1.5},
		{"v: true", true},
		{"v: TRUE", true},
		{"v: yes", true},
		{"v: On", true},
		{"v: false", false},
		{"v: No", false},
		{"v: off", false},
		{"v: true1", "true1"},
		{"v: 2020-01-02T03:04:05Z", date},
		{"v: 2s", "2s"},
		{"v: 1k2", "1k2"},
		{"v: 0x10", "0x10"},
		{"v: 1e3", "1e3"},
		{"v: 4222", int64(4222)},
		{"v: 127.0.0.1", "127.0.0.1"},
		{"v: 127.0.0.1:4222", "127.0.0.1:4222"},
		{"v: 0.0.0.0:4222", "0.0.0.0:4222"},
		{"v: -1.2.3", "-1.2.3"},
		{"v: 4222:1", "4222:1"},
		{"v: localhost:4222", "localhost:4222"},
		{"v: nats://a:b@host:4222", "nats://a:b@host:4222"},
		{"v: foo-bar", "foo-bar"},
		{"v: a#b", "a#b"},
		{"v: a//b", "a//b"},
		{"v: a$b", "a$b"},
		{"v: x(", "x("},
		{"v: +5", "+5"},
		{`v: "a\tb\nc\rd\"e\\f\x41"`, "a\tb\nc\rd\"e\\fA"},
		{`v: "é"`, "é"},
		{"v: \"two\nlines\"", "two\nlines"},
		{`v: 'a\tb"c'`, `a\tb"c`},
		{`v: ""`, ""},
		{`v: "$NOPE"`, "$NOPE"},
		{`v: '$NOPE'`, "$NOPE"},
		{"v: $2a$11$abcdefghijk", "$2a$11$abcdefghijk"},
		{"v: $2b$10$xyz", "$2b$10$xyz"},
		{"v (\nline one\n  line two\n)\n", "\nline one\n  line two\n"},
		{"v: (x\n)", "x\n"},
		{"v (\r\nx\r\n)\r\n", "\r\nx\r\n"},
		{"v (\nhas ) inside\n )\n)", "\nhas ) inside\n )\n"},
		{"v: [1, two, 3.0, yes]", []any{int64(1), "two", 3.0, true}},
		{"v: [1,2,]", []any{int64(1), int64(2)}},
		{"v: []", []any{}},
		{"v: [\n  1\n  2 # c\n  3, // d\n]", []any{int64(1), int64(2), int64(3)}},
		{"v: [[1],[2,[3]]]", []any{[]any{int64(1)}, []any{int64(2), []any{int64(3)}}}},
		{"v: [{a: 1}, {b: 2}]", []any{map[string]any{"a": int64(1)}, map[string]any{"b": int64(2)}}},
		{"v: {}", map[string]any{}},
		{"v {a 1\n b = 2; c: 3, d: x}", map[string]any{"a": int64(1), "b": int64(2), "c": int64(3), "d": "x"}},
		{"v: {,a:1,,b:2,}", map[string]any{"a": int64(1), "b": int64(2)}},
		{"v: {a: {b: {c: deep}}}", map[string]any{"a": map[string]any{"b": map[string]any{"c": "deep"}}}},
	}
	for _, c := range cases {
		got := mustPlain(t, c.src)["v"]
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %#v, want %#v", c.src, got, c.want)
		}
	}
}

func TestSyntaxForms(t *testing.T) {
	cases := []struct {
		src  string
		want map[string]any
	}{
		{"a: 1\nb = 2\nc 3", map[string]any{"a": int64(1), "b": int64(2), "c": int64(3)}},
		{"a=1;b=2", map[string]any{"a": int64(1), "b": int64(2)}},
		{"a: 1, b: 2", map[string]any{"a": int64(1), "b": int64(2)}},
		{"# c1\n// c2\na: 1 # c3\nb: 2 // c4\nc: 3//c5\n", map[string]any{"a": int64(1), "b": int64(2), "c": int64(3)}},
		{"\"quoted key\": 1\n'single': 2", map[string]any{"quoted key": int64(1), "single": int64(2)}},
		{"a.b: 1\nMixed_Case: 2", map[string]any{"a.b": int64(1), "Mixed_Case": int64(2)}},
		{"a\n: 1", map[string]any{"a": int64(1)}},
		{"{a: 1, b: {c: 2}}", map[string]any{"a": int64(1), "b": map[string]any{"c": int64(2)}}},
		{"a: 1\na: 2", map[string]any{"a": int64(2)}},
		{"\xef\xbb\xbfa: 1", map[string]any{"a": int64(1)}},
		{"a: 1\r\nb: x\r\n", map[string]any{"a": int64(1), "b": "x"}},
		{"include: 5", map[string]any{"include": int64(5)}},
		{"", map[string]any{}},
		{"  \n# only comments\n", map[string]any{}},
	}
	for _, c := range cases {
		if got := mustPlain(t, c.src); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %#v, want %#v", c.src, got, c.want)
		}
	}
}

func TestPositions(t *testing.T) {
	m, err := Parse("a: 1\n  b {\n    c: [x, \"é\", y]\n  }\n")
	if err != nil {
		t.Fatal(err)
	}
	if p := m["a"].Pos(); p != "1:4" {
		t.Errorf("a at %s", p)
	}
	b := m["b"]
	if b.Line != 2 || b.Col != 5 || b.File != "" {
		t.Errorf("b at %d:%d %q", b.Line, b.Col, b.File)
	}
	c := b.V.(map[string]*Value)["c"]
	if c.Pos() != "3:8" {
		t.Errorf("c at %s", c.Pos())
	}
	arr := c.V.([]*Value)
	if arr[1].Pos() != "3:12" || arr[2].Pos() != "3:17" {
		t.Errorf("elements at %s %s (columns count characters)", arr[1].Pos(), arr[2].Pos())
	}
}

func TestErrors(t *testing.T) {
	cases := []struct{ src, pos, msg string }{
		{"a:", "1:3", `expected a value for key "a", found end of file`},
		{"a:\n1", "1:3", "found newline"},
		{"a: # c", "1:4", "found a comment"},
		{"foo", "1:4", "found end of file"},
		{"a: ]", "1:4", `found ']'`},
		{"a: 1 b: 2", "1:6", `after the value, found 'b'`},
		{"a: x// c", "1:8", `found 'c'`},
		{"a: \"abc", "1:4", "unterminated string"},
		{"a: 'abc\n", "1:4", "unterminated string"},
		{`a: "x\q"`, "1:6", `invalid escape 'q'`},
		{`a: "\u0041"`, "1:5", `invalid escape 'u'`},
		{`a: "\x4g"`, "1:5", "two hexadecimal digits"},
		{`a: "\x4"`, "1:5", "two hexadecimal digits"},
		{`a: "\`, "1:5", "unterminated escape"},
		{"a: [1,,2]", "1:7", "unexpected ','"},
		{"a: [,1]", "1:5", "unexpected ','"},
		{"a: [1\n,2]", "2:1", "unexpected ','"},
		{"a: [1 2]", "1:7", `expected ',' or ']'`},
		{"a: [1,", "1:7", "unexpected end of file in the array opened at 1:4"},
		{"a: [1", "1:6", "unexpected end of file"},
		{"a: {b: 1", "1:9", "unexpected end of file in the map opened at 1:4"},
		{"a {b 1 c 2}", "1:8", `found 'c'`},
		{"}", "1:1", "unexpected '}'"},
		{"a: 1}", "1:5", "found '}'"},
		{"{a: 1} b", "1:8", "expected end of file"},
		{": 1", "1:1", "expected a key"},
		{"a: 1.5s", "1:7", `unexpected 's' after number`},
		{"a: 1.5k", "1:7", `unexpected 'k'`},
		{"a: -3x", "1:6", `unexpected 'x'`},
		{"a: 5.", "1:6", "expected a digit after '.'"},
		{"a: -", "1:5", "expected a digit after '-'"},
		{"a: -a", "1:5", "expected a digit after '-', found 'a'"},
		{"a: 99999999999999999999", "1:4", "out of range"},
		{"a: 9999999999999999k", "1:4", "out of range"},
		{"a: 2020-01-02", "1:4", "invalid datetime"},
		{"a: 2020-01-02T03:04:05", "1:4", "invalid datetime"},
		{"a: 2020-01-02T03:04:05+01:00", "1:4", "invalid datetime"},
		{"a: 12-30", "1:4", "invalid datetime"},
		{"a (\nx\n  )", "1:3", "unterminated block string"},
		{"a (\nx\n) ", "1:3", "unterminated block string"},
		{"a: $", "1:4", "expected a variable name"},
		{"x: 1\n\ta: $UNDEFINED_CONF_TEST_VAR", "2:5", `undefined variable "UNDEFINED_CONF_TEST_VAR"`},
		{"a: 'x' y", "1:8", `found 'y'`},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: want *Error, got %v", c.src, err)
			continue
		}
		if got := formatPos(e.File, e.Line, e.Col); got != c.pos || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%q: got %q, want %s: ...%s...", c.src, err, c.pos, c.msg)
		}
		if !strings.HasPrefix(err.Error(), c.pos+": ") {
			t.Errorf("%q: Error() = %q lacks position prefix", c.src, err)
		}
	}
}

func TestNestingBound(t *testing.T) {
	for _, open := range []string{"[", "{a:", "[{b:"} {
		src := "v: " + strings.Repeat(open, 10000)
		if _, err := Parse(src); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
			t.Errorf("%s x10000: %v", open, err)
		}
	}
	ok := "v: " + strings.Repeat("[", 50) + strings.Repeat("]", 50)
	if _, err := Parse(ok); err != nil {
		t.Errorf("50 levels: %v", err)
	}
}

func TestPlainAndPos(t *testing.T) {
	var nilv *Value
	if nilv.Plain() != nil {
		t.Error("nil Plain")
	}
	v := &Value{V: "x", File: "f.conf", Line: 3, Col: 7}
	if v.Pos() != "f.conf:3:7" {
		t.Error(v.Pos())
	}
	e := &Error{File: "f.conf", Line: 1, Col: 2, Msg: "boom"}
	if e.Error() != "f.conf:1:2: boom" {
		t.Error(e.Error())
	}
	if (&Error{Line: 1, Col: 2, Msg: "boom"}).Error() != "1:2: boom" {
		t.Error("string error format")
	}
}

func TestLongLine(t *testing.T) {
	// Columns are counted incrementally; this would take minutes if each
	// value recounted its line from the start.
	const n = 200000
	src := "v: [" + strings.Repeat("é,", n) + "]"
	m, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	arr := m["v"].V.([]*Value)
	if len(arr) != n || arr[n-1].Col != 5+2*(n-1) {
		t.Fatalf("len %d, last col %d", len(arr), arr[n-1].Col)
	}
}

// Syntax errors carry the reference's "Parse error on line N" (tools look
// for it) after our position; unresolved variables do not.
func TestSyntaxErrorWording(t *testing.T) {
	_, err := Parse("port: 4222\nfoo {\n  bar: 1\n")
	want := "4:1: Parse error on line 4: 'unexpected end of file in the map opened at 2:5'"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	_, err = Parse("port: $CONF_TEST_SURELY_UNDEFINED\n")
	if err == nil || strings.Contains(err.Error(), "Parse error") || !strings.HasPrefix(err.Error(), "1:7: undefined variable") {
		t.Fatalf("an undefined variable is not a syntax error: %v", err)
	}
}
