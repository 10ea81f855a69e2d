// Command mkpasswd makes bcrypt hashes for the password and token fields of
// a nats-server configuration.
//
// Without flags it generates a random password and prints
//
//	pass: <password>
//	bcrypt hash: <hash>
//
// With -p it prompts (on stderr, input not echoed when stdin is a terminal)
// for a password twice and prints only the "bcrypt hash: <hash>" line. When
// stdin is not a terminal the two lines are read from it as they come, which
// lets scripts pipe a password in. -cost sets the bcrypt cost (default 11).
package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const (
	// DefaultCost is the bcrypt cost the reference tool uses: slow enough
	// to resist offline guessing, fast enough for a connect handshake.
	DefaultCost = 11
	// PasswordLength gives ~139 bits of entropy with passwordAlphabet.
	PasswordLength = 22
	// passwordAlphabet: letters, digits and the shifted digit-row symbols.
	// Configs must quote passwords holding '#' or '$'; the generated one is
	// meant to be pasted into a client, its hash into the config.
	passwordAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command, separated from main so tests can drive it.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkpasswd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prompt := fs.Bool("p", false, "hash a password read from the terminal instead of generating one")
	cost := fs.Int("cost", DefaultCost, fmt.Sprintf("bcrypt cost (%d-%d)", bcrypt.MinCost, bcrypt.MaxCost))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mkpasswd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "mkpasswd: cost must be between %d and %d, got %d\n", bcrypt.MinCost, bcrypt.MaxCost, *cost)
		return 2
	}
	var pw string
	var err error
	if *prompt {
		pw, err = promptPassword(stdin, stderr)
	} else {
		pw, err = GeneratePassword(PasswordLength)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mkpasswd: %v\n", err)
		return 1
	}
	hash, err := HashPassword(pw, *cost)
	if err != nil {
		fmt.Fprintf(stderr, "mkpasswd: %v\n", err)
		return 1
	}
	if !*prompt {
		fmt.Fprintf(stdout, "pass: %s\n", pw)
	}
	fmt.Fprintf(stdout, "bcrypt hash: %s\n", hash)
	return 0
}

// GeneratePassword returns n characters drawn uniformly from
// passwordAlphabet with crypto/rand.
func GeneratePassword(n int) (string, error) {
	if n <= 0 {
		return "", fmt.Errorf("password length must be positive, got %d", n)
	}
	max := big.NewInt(int64(len(passwordAlphabet)))
	var sb strings.Builder
	sb.Grow(n)
	for i := 0; i < n; i++ {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("reading random data: %w", err)
		}
		sb.WriteByte(passwordAlphabet[k.Int64()])
	}
	return sb.String(), nil
}

// HashPassword returns the bcrypt hash of pw at the given cost.
func HashPassword(pw string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

var errMismatch = errors.New("passwords do not match")

// promptPassword asks twice and insists on agreement, since an unseen typo
// would lock the operator out.
func promptPassword(in *os.File, prompts io.Writer) (string, error) {
	r := bufio.NewReader(in)
	first, err := readSecret(in, r, prompts, "Enter Password: ")
	if err != nil {
		return "", err
	}
	if first == "" {
		return "", errors.New("empty password")
	}
	second, err := readSecret(in, r, prompts, "Reenter Password: ")
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errMismatch
	}
	return first, nil
}

func readSecret(in *os.File, r *bufio.Reader, prompts io.Writer, prompt string) (string, error) {
	fmt.Fprint(prompts, prompt)
	restore, err := disableEcho(in)
	if err != nil {
		return "", fmt.Errorf("turning off terminal echo: %w", err)
	}
	line, rerr := r.ReadString('\n')
	if restore != nil {
		restore()
		// The user's Enter was not echoed either.
		fmt.Fprintln(prompts)
	}
	if rerr != nil && !(errors.Is(rerr, io.EOF) && line != "") {
		if errors.Is(rerr, io.EOF) {
			return "", errors.New("no password given")
		}
		return "", fmt.Errorf("reading password: %w", rerr)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
