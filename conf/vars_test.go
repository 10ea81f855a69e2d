package conf

import (
	"reflect"
	"strings"
	"testing"
)

func TestVariables(t *testing.T) {
	t.Setenv("CONF_TEST_PORT", "4333")
	t.Setenv("CONF_TEST_STR", "hello")
	t.Setenv("CONF_TEST_MAP", "{a: 1, b: [x]}")
	t.Setenv("CONF_TEST_QUOTED", `"q r"`)
	t.Setenv("CONF_TEST_INDIRECT", "$CONF_TEST_STR")
	t.Setenv("CONF_TEST_EMPTY", "")
	cases := []struct {
		src  string
		want map[string]any
	}{
		{"N = abc\nv: $N", map[string]any{"N": "abc", "v": "abc"}},
		{"N: 5\nm { v: $N }", map[string]any{"N": int64(5), "m": map[string]any{"v": int64(5)}}},
		{"N: 5\nm { N: 6, v: $N }\nv: $N", map[string]any{"N": int64(5), "m": map[string]any{"N": int64(6), "v": int64(6)}, "v": int64(5)}},
		{"N: [1, 2]\nv: $N", map[string]any{"N": []any{int64(1), int64(2)}, "v": []any{int64(1), int64(2)}}},
		{"N: 1\nv: [$N, {w: $N}]", map[string]any{"N": int64(1), "v": []any{int64(1), map[string]any{"w": int64(1)}}}},
		{"N: 1\nN: 2\nv: $N", map[string]any{"N": int64(2), "v": int64(2)}},
		{"v: $CONF_TEST_PORT", map[string]any{"v": int64(4333)}},
		{"v: $CONF_TEST_STR", map[string]any{"v": "hello"}},
		{"v: $CONF_TEST_MAP", map[string]any{"v": map[string]any{"a": int64(1), "b": []any{"x"}}}},
		{"v: $CONF_TEST_QUOTED", map[string]any{"v": "q r"}},
		{"v: $CONF_TEST_INDIRECT", map[string]any{"v": "hello"}},
		{"v: $CONF_TEST_EMPTY", map[string]any{"v": ""}},
		{"CONF_TEST_STR: local\nv: $CONF_TEST_STR", map[string]any{"CONF_TEST_STR": "local", "v": "local"}},
		{"v: \"$CONF_TEST_STR\"\nw: 'x $CONF_TEST_STR'", map[string]any{"v": "$CONF_TEST_STR", "w": "x $CONF_TEST_STR"}},
		{"v: x$CONF_TEST_STR", map[string]any{"v": "x$CONF_TEST_STR"}},
		{"v: $CONF_TEST_STR # comment", map[string]any{"v": "hello"}},
	}
	for _, c := range cases {
		if got := mustPlain(t, c.src); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %#v, want %#v", c.src, got, c.want)
		}
	}
}

func TestVariablePosition(t *testing.T) {
	m, err := Parse("N: 1\n\nv:   $N")
	if err != nil {
		t.Fatal(err)
	}
	if m["v"].Pos() != "3:6" {
		t.Errorf("substituted value should sit at its use, got %s", m["v"].Pos())
	}
}

func TestVariableErrors(t *testing.T) {
	t.Setenv("CONF_TEST_CYCLE_A", "$CONF_TEST_CYCLE_B")
	t.Setenv("CONF_TEST_CYCLE_B", "$CONF_TEST_CYCLE_A")
	t.Setenv("CONF_TEST_SELF", "$CONF_TEST_SELF")
	t.Setenv("CONF_TEST_BAD", "[1,,2]")
	t.Setenv("CONF_TEST_TWO", "a b")
	cases := []struct{ src, pos, msg string }{
		{"m { N: 1 }\nv: $N", "2:4", `undefined variable "N"`},
		{"A: $B\nB: 1", "1:4", `undefined variable "B"`},
		{"A: $A", "1:4", `undefined variable "A"`},
		{"n: 1\nv: $N_CONF_TEST", "2:4", `undefined variable "N_CONF_TEST"`},
		{"abc: 1\nv: $ABC", "2:4", `undefined variable "ABC"`},
		{"v: $NOT_SET_CONF_X.y", "1:4", `undefined variable "NOT_SET_CONF_X.y"`},
		{"v: $CONF_TEST_SELF", "1:4", "cycle"},
		{"v: $CONF_TEST_CYCLE_A", "1:4", "cycle"},
		{"v: $CONF_TEST_BAD", "1:4", `in environment variable "CONF_TEST_BAD": 1:4: unexpected ','`},
		{"v: $CONF_TEST_TWO", "1:4", `unexpected 'b'`},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		if err == nil || !strings.HasPrefix(err.Error(), c.pos+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: got %v, want %s ...%s...", c.src, err, c.pos, c.msg)
		}
	}
}
