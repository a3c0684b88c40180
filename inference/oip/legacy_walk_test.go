package oip

// See legacy_decode_test.go.

import (
	"errors"
	"fmt"
)

// walker visits the scalar elements of a JSON tensor "data" value in row-major
// order. The value is either a flat array, an array nested exactly like shape,
// or (for a shape of no dimensions) a bare scalar. It does not trust its input
// to be valid JSON: any malformation is an error, never a panic.
type legacyWalker struct {
	b     []byte
	i     int
	shape []int64
	emit  func(tok []byte) error
}

func (w *legacyWalker) walk() error {
	w.space()
	if w.i >= len(w.b) {
		return errors.New("data is empty")
	}
	var err error
	switch {
	case w.b[w.i] != '[':
		if len(w.shape) != 0 {
			return fmt.Errorf("data must be an array for shape %v", w.shape)
		}
		err = w.scalar()
	case w.nestedAhead():
		err = w.nested(0)
	default:
		err = w.flat()
	}
	if err != nil {
		return err
	}
	w.space()
	if w.i != len(w.b) {
		return errors.New("data has trailing bytes")
	}
	return nil
}

// nestedAhead reports whether the array at w.i starts with an array.
func (w *legacyWalker) nestedAhead() bool {
	j := w.i + 1
	for j < len(w.b) && legacyIsSpace(w.b[j]) {
		j++
	}
	return j < len(w.b) && w.b[j] == '['
}

// flat reads an array of scalars.
func (w *legacyWalker) flat() error {
	return w.array(func() error {
		if w.b[w.i] == '[' {
			return errors.New("data mixes arrays and numbers")
		}
		return w.scalar()
	}, nil)
}

// nested reads an array at depth d whose length must be shape[d].
func (w *legacyWalker) nested(d int) error {
	if d >= len(w.shape) {
		return fmt.Errorf("data nests deeper than shape %v", w.shape)
	}
	count := int64(0)
	err := w.array(func() error {
		count++
		if count > w.shape[d] {
			return fmt.Errorf("data has more than %d elements in dimension %d of shape %v", w.shape[d], d, w.shape)
		}
		if d+1 < len(w.shape) {
			if w.b[w.i] != '[' {
				return fmt.Errorf("data must be arrays in dimension %d of shape %v", d, w.shape)
			}
			return w.nested(d + 1)
		}
		if w.b[w.i] == '[' {
			return fmt.Errorf("data nests deeper than shape %v", w.shape)
		}
		return w.scalar()
	}, func() error {
		if count != w.shape[d] {
			return fmt.Errorf("data has %d elements in dimension %d, shape %v needs %d", count, d, w.shape, w.shape[d])
		}
		return nil
	})
	return err
}

// array reads '[' elem (',' elem)* ']' calling elem at each element's first
// byte, then done (if any) after the closing bracket.
func (w *legacyWalker) array(elem func() error, done func() error) error {
	w.i++ // '['
	w.space()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		return legacyCall(done)
	}
	for {
		w.space()
		if w.i >= len(w.b) {
			return errors.New("data is truncated")
		}
		if err := elem(); err != nil {
			return err
		}
		w.space()
		if w.i >= len(w.b) {
			return errors.New("data is truncated")
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case ']':
			w.i++
			return legacyCall(done)
		default:
			return fmt.Errorf("data: unexpected %q at byte %d", w.b[w.i], w.i)
		}
	}
}

func legacyCall(f func() error) error {
	if f == nil {
		return nil
	}
	return f()
}

// scalar emits the number or literal at w.i.
func (w *legacyWalker) scalar() error {
	start := w.i
	switch c := w.b[w.i]; {
	case c == '-' || (c >= '0' && c <= '9'):
		for w.i < len(w.b) && legacyIsNumberByte(w.b[w.i]) {
			w.i++
		}
	case c >= 'a' && c <= 'z':
		for w.i < len(w.b) && w.b[w.i] >= 'a' && w.b[w.i] <= 'z' {
			w.i++
		}
	case c == '"':
		return errors.New("data holds a string; BYTES is not served")
	default:
		return fmt.Errorf("data: unexpected %q at byte %d", c, w.i)
	}
	return w.emit(w.b[start:w.i])
}

func (w *legacyWalker) space() {
	for w.i < len(w.b) && legacyIsSpace(w.b[w.i]) {
		w.i++
	}
}

func legacyIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func legacyIsNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
