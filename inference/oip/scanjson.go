package oip

import (
	"bytes"
	"unicode/utf8"
)

// object reads the members of an object whose '{' was read, calling member
// at each value with its key.
func (s *scanner) object(member func(key []byte) bool) bool {
	s.space()
	if s.eat('}') {
		return true
	}
	for {
		s.space()
		key, ok := s.str()
		if !ok {
			return false
		}
		s.space()
		if !s.eat(':') {
			return false
		}
		s.space()
		if !member(key) {
			return false
		}
		s.space()
		if !s.eat(',') {
			return s.eat('}')
		}
	}
}

// array reads the elements of an array whose '[' was read, calling elem at
// each.
func (s *scanner) array(elem func() bool) bool {
	s.space()
	if s.eat(']') {
		return true
	}
	for {
		s.space()
		if !elem() {
			return false
		}
		s.space()
		if !s.eat(',') {
			return s.eat(']')
		}
	}
}

// skip reads any value, at most maxSkipDepth-depth deep.
func (s *scanner) skip(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '{', '[':
		if depth >= maxSkipDepth {
			return false
		}
		s.i++
		if s.b[s.i-1] == '[' {
			return s.array(func() bool { return s.skip(depth + 1) })
		}
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case '"':
		return s.skipString()
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	}
	return s.number()
}

// str reads a string without escapes and returns its bytes, which encoding/json
// would decode to the same string: valid UTF-8, no control characters.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// skipString reads any valid string.
func (s *scanner) skipString() bool {
	s.i++ // '"'
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return true
		case c < ' ':
			return false
		case c == '\\':
			if s.i >= len(s.b) {
				return false
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					if s.i >= len(s.b) || !isHex(s.b[s.i]) {
						return false
					}
					s.i++
				}
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

// number reads a number in JSON's grammar.
func (s *scanner) number() bool {
	s.eat('-')
	if !s.eat('0') && s.digits() == 0 {
		return false
	}
	if s.eat('.') && s.digits() == 0 {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// int reads a JSON integer of at most 18 digits (which cannot overflow).
func (s *scanner) int() (int64, bool) {
	neg := s.eat('-')
	start := s.i
	var u int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		u = u*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	n := s.i - start
	if n == 0 || n > 18 || (n > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i]|0x20 == 'e') {
		return 0, false // a float: encoding/json refuses it for an int64
	}
	if neg {
		return -u, true
	}
	return u, true
}

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

func (s *scanner) null() bool { return s.lit("null") }

func (s *scanner) lit(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}
