package conf

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestIncludeChain(t *testing.T) {
	m, err := ParseFile("testdata/include/main.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"PASS":          "s3cret",
		"port":          int64(5222), // limits.conf comes later and wins
		"authorization": map[string]any{"user": "admin", "password": "s3cret"},
		"FROM_INCLUDE":  "set-in-include",
		"deep":          true,
		"max_payload":   int64(1 << 20),
		"cluster": map[string]any{
			"port":   int64(6222),
			"routes": []any{"nats://10.0.0.1:6222"},
			"name":   "c1",
		},
		"after": "set-in-include",
	}
	if got := m["cluster"].Plain(); !reflect.DeepEqual(got, want["cluster"]) {
		t.Errorf("cluster: %#v", got)
	}
	plain, _ := ParseFilePlain("testdata/include/main.conf")
	if !reflect.DeepEqual(plain, want) {
		t.Errorf("got %#v\nwant %#v", plain, want)
	}
	if f := m["deep"].File; f != filepath.Join("testdata/include/sub/nested/deep.conf") {
		t.Errorf("deep came from %q", f)
	}
	if p := m["max_payload"].Pos(); p != "testdata/include/sub/limits.conf:1:14" {
		t.Errorf("max_payload at %s", p)
	}
	if p := m["after"].Pos(); p != "testdata/include/main.conf:10:8" {
		t.Errorf("after at %s", p)
	}
}

func TestIncludeErrors(t *testing.T) {
	cases := []struct{ file, prefix, msg string }{
		{"testdata/include/cycle/a.conf", "testdata/include/cycle/b.conf:2:1: ", "include cycle"},
		{"testdata/include/self.conf", "testdata/include/self.conf:1:1: ", "include cycle"},
		{"testdata/include/missing.conf", "testdata/include/missing.conf:2:3: ", "no such file"},
		{"testdata/include/bad_inner.conf", "testdata/include/sub/broken.conf:2:7: ", "unexpected ','"},
		{"testdata/include/none.conf", "testdata/include/none.conf:0:0: ", "no such file"},
	}
	for _, c := range cases {
		_, err := ParseFile(c.file)
		if err == nil || !strings.HasPrefix(err.Error(), c.prefix) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %s...%s", c.file, err, c.prefix, c.msg)
		}
	}
}

func TestIncludeFromString(t *testing.T) {
	// Parse on a string resolves includes against the working directory.
	m := mustPlain(t, "include testdata/include/sub/limits.conf\nx: 1")
	if m["max_payload"] != int64(1<<20) || m["x"] != int64(1) {
		t.Errorf("got %#v", m)
	}
	if _, err := Parse("include /dev/null/nope"); err == nil {
		t.Error("bad include path accepted")
	}
	if _, err := Parse("include " + os.DevNull); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("device include: %v", err)
	}
	if _, err := Parse("include \"\""); err == nil || !strings.Contains(err.Error(), "expected a file name") {
		t.Errorf("empty include: %v", err)
	}
}

func TestIncludeDepthBound(t *testing.T) {
	dir := t.TempDir()
	// A chain of distinct files longer than the nesting bound.
	for i := 0; i < maxDepth+5; i++ {
		body := "include f" + strconv.Itoa(i+1) + ".conf\n"
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)+".conf"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ParseFile(filepath.Join(dir, "f0.conf"))
	if err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("got %v", err)
	}
}
