package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		pw, err := GeneratePassword(PasswordLength)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != PasswordLength {
			t.Fatalf("length %d, want %d", len(pw), PasswordLength)
		}
		for _, c := range pw {
			if !strings.ContainsRune(passwordAlphabet, c) {
				t.Fatalf("%q has %q outside the alphabet", pw, c)
			}
		}
		if seen[pw] {
			t.Fatalf("password %q repeated", pw)
		}
		seen[pw] = true
	}
	if _, err := GeneratePassword(0); err == nil {
		t.Fatal("expected an error for length 0")
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")); err != nil {
		t.Fatalf("hash does not verify: %v", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("s3creT")) == nil {
		t.Fatal("hash verifies a wrong password")
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != bcrypt.MinCost {
		t.Fatalf("cost %d, want %d", c, bcrypt.MinCost)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// command builds mkpasswd once so the tests run it as users do.
func command(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mkpasswd")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mkpasswd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && buildErr == nil {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func runCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(command(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestCommandGenerates(t *testing.T) {
	out, errOut, code := runCmd(t, "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m := regexp.MustCompile(`^pass: (\S{22})\nbcrypt hash: (\$2a\$11\$\S{53})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("unexpected output %q", out)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(m[2]), []byte(m[1])); err != nil {
		t.Fatalf("printed hash does not match printed password: %v", err)
	}
}

func TestCommandPromptPiped(t *testing.T) {
	out, errOut, code := runCmd(t, "correct horse\ncorrect horse\n", "-p", "-cost", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m := regexp.MustCompile(`^bcrypt hash: (\$2a\$05\$\S{53})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("unexpected output %q", out)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(m[1]), []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	if errOut != "Enter Password: Reenter Password: " {
		t.Fatalf("prompts %q", errOut)
	}
}

func TestCommandErrors(t *testing.T) {
	cases := []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"a\nb\n", []string{"-p", "-cost", "4"}, 1, "passwords do not match"},
		{"\n\n", []string{"-p"}, 1, "empty password"},
		{"", []string{"-p"}, 1, "no password given"},
		{"", []string{"-cost", "3"}, 2, "cost must be between 4 and 31"},
		{"", []string{"-cost", "32"}, 2, "cost must be between 4 and 31"},
		{"", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"", []string{"-bogus"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		out, errOut, code := runCmd(t, c.stdin, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) || out != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.msg)
		}
	}
}
