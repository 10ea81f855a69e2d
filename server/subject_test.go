package server

import "testing"

func TestSubjectValidity(t *testing.T) {
	cases := []struct {
		s        string
		sub, pub bool
	}{
		{"foo", true, true},
		{"foo.bar", true, true},
		{"foo.*", true, false},
		{"foo.>", true, false},
		{">", true, false},
		{"*", true, false},
		{"foo.>.bar", false, false},
		{"", false, false},
		{"foo..bar", false, false},
		{".foo", false, false},
		{"foo.", false, false},
		{"foo bar", false, false},
		{"foo\tbar", false, false},
		{"foo*.bar", true, true},
		{"foo.b>", true, true},
	}
	for _, c := range cases {
		if got := IsValidSubject(c.s); got != c.sub {
			t.Errorf("IsValidSubject(%q) = %v, want %v", c.s, got, c.sub)
		}
		if got := IsValidPublishSubject(c.s); got != c.pub {
			t.Errorf("IsValidPublishSubject(%q) = %v, want %v", c.s, got, c.pub)
		}
	}
}

func TestSubjectMatchesFilter(t *testing.T) {
	cases := []struct {
		subj, filter string
		want         bool
	}{
		{"foo", "", true},
		{"foo", ">", true},
		{"foo.bar", "foo.*", true},
		{"foo", "foo.*", false},
		{"foo.bar.baz", "foo.*", false},
		{"foo.bar.baz", "foo.>", true},
		{"foo", "foo.>", false},
		{"foo.bar", "*.bar", true},
		{"foo.bar", "*.baz", false},
		{"foo.bar", "foo.bar", true},
		{"foo.bar", "foo.ba", false},
		{"foo.ba", "foo.bar", false},
		{"a.b.c", "*.*.*", true},
		{"a.b", "*.*.*", false},
	}
	for _, c := range cases {
		if got := SubjectMatchesFilter(c.subj, c.filter); got != c.want {
			t.Errorf("SubjectMatchesFilter(%q, %q) = %v, want %v", c.subj, c.filter, got, c.want)
		}
	}
}

func TestSubjectsCollide(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"foo.*", "foo.bar", true},
		{"foo.>", "foo.bar.baz", true},
		{"foo.*", "bar.*", false},
		{"foo.*", "foo.*.baz", false},
		{">", "a.b", true},
		{"a.*.c", "a.b.*", true},
	}
	for _, c := range cases {
		if got := subjectsCollide(c.a, c.b); got != c.want {
			t.Errorf("subjectsCollide(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
