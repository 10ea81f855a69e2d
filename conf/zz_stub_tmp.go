package conf

import (
	"errors"
	"fmt"
)

type Value struct {
	V               any
	File            string
	Line, Col       int
	KeyLine, KeyCol int
}

func (v *Value) Pos() string { return fmt.Sprintf("%s:%d:%d", v.File, v.Line, v.Col) }

func ParseFile(path string) (map[string]*Value, error) { return nil, errors.New("stub") }
