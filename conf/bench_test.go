package conf

import (
	"os"
	"testing"
)

func BenchmarkParseTypical(b *testing.B) {
	data, err := os.ReadFile("testdata/real/server.conf")
	if err != nil {
		b.Fatal(err)
	}
	src := string(data)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
