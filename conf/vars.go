package conf

import (
	"os"
	"strings"
)

// parseVariable resolves "$NAME": the innermost enclosing map defining NAME
// (before this point) wins, then the environment. The result carries the
// position of the reference so errors point at the use.
func (p *parser) parseVariable(m mark) (*Value, error) {
	p.pos++
	name := p.readUnquoted()
	if isBcrypt(name) {
		return p.value(m, "$"+name), nil
	}
	if name == "" {
		return nil, p.errorAt(m, "expected a variable name after '$'")
	}
	for i := len(p.scopes) - 1; i >= 0; i-- {
		if v, ok := p.scopes[i][name]; ok {
			// The option layer skips keys used as variables instead of
			// calling them unknown fields, as the reference does.
			v.UsedAsVariable = true
			out := p.value(m, v.V)
			return out, nil
		}
	}
	env, ok := os.LookupEnv(name)
	if !ok {
		return nil, p.semanticErrorAt(m, "undefined variable %q", name)
	}
	return p.parseEnv(m, name, env)
}

// isBcrypt recognises bcrypt hashes ("$2a$11$..."), which the reference
// keeps as plain strings rather than variable references.
func isBcrypt(name string) bool {
	return len(name) > 3 && name[0] == '2' && name[2] == '$' &&
		strings.IndexByte("aby", name[1]) >= 0
}

// parseEnv parses an environment variable's text as a value, as the
// reference does, so PORT=4222 yields an integer. The text may itself refer
// to other environment variables; cycles are reported.
func (p *parser) parseEnv(m mark, name, env string) (*Value, error) {
	for _, n := range p.sh.envStack {
		if n == name {
			return nil, p.semanticErrorAt(m, "variable reference cycle through environment variable %q", name)
		}
	}
	if env == "" {
		return p.value(m, ""), nil
	}
	if p.depth >= maxDepth {
		return nil, p.errorAt(m, "nesting deeper than %d levels", maxDepth)
	}
	p.sh.envStack = append(p.sh.envStack, name)
	defer func() { p.sh.envStack = p.sh.envStack[:len(p.sh.envStack)-1] }()
	sub := newParser(env, "", "", p.sh)
	sub.depth = p.depth + 1
	v, err := sub.parseValue(owner{kind: ownerEnv, name: name})
	if err == nil {
		sub.skipBlank()
		if !sub.eof() {
			err = sub.errorHere("unexpected %s after the value", sub.found())
		}
	}
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Syntax = false // reported once, by the outer error
		}
		return nil, p.semanticErrorAt(m, "in environment variable %q: %v", name, err)
	}
	return p.value(m, v.V), nil
}
