package conf

import (
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"a: 1\nb = 2k\nc 3.5\nd: [1,2,]\ne {f: yes, g: 'x'}",
		"h: \"a\\tb\\x41\"\nl: 127.0.0.1:4222\nt: 2020-01-02T03:04:05Z",
		"N=5\nm { x: $N, N = 6, y: $N }\nz: $N",
		"a (\nxx\n)\nb: 1",
		"a: $2a$11$abc",
		"{a:1}",
		"a: [\n1\n2 # c\n]",
		"a: [{b: [1, {c: d}]}]",
		"v: -1.2.3\nw: 1.5\nx: -3kib",
		"include testdata/include/sub/limits.conf",
	}
	for _, name := range []string{"server", "cluster", "accounts"} {
		if b, err := os.ReadFile("testdata/real/" + name + ".conf"); err == nil {
			seeds = append(seeds, string(b))
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		m, err := Parse(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if e.Line < 1 || e.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		checkValues(t, m)
	})
}

// checkValues asserts every value has a position and one of the documented
// types.
func checkValues(t *testing.T, m map[string]*Value) {
	for k, v := range m {
		checkValue(t, k, v)
	}
}

func checkValue(t *testing.T, what string, v *Value) {
	if v == nil || v.Line < 1 || v.Col < 1 {
		t.Fatalf("%s: bad value or position %+v", what, v)
	}
	switch x := v.V.(type) {
	case map[string]*Value:
		checkValues(t, x)
	case []*Value:
		for _, e := range x {
			checkValue(t, what, e)
		}
	case string, int64, float64, bool:
	default:
		if _, ok := x.(interface{ IsZero() bool }); !ok {
			t.Fatalf("%s: unexpected type %T", what, x)
		}
	}
}
