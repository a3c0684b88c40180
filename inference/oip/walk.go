package oip

import (
	"errors"
	"fmt"
)

// walker visits the scalar elements of a JSON tensor "data" value in row-major
// order, parsing each with parse into out. The value is either a flat array,
// an array nested exactly like shape, or (for a shape of no dimensions) a
// bare scalar. It does not trust its input to be valid JSON: any malformation
// is an error, never a panic.
type walker[T any] struct {
	b     []byte
	i     int
	shape []int64
	out   []T
	parse func([]byte) (T, error)
}

var errTruncated = errors.New("data is truncated")

func (w *walker[T]) walk() error {
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
func (w *walker[T]) nestedAhead() bool {
	j := w.i + 1
	for j < len(w.b) && isSpace(w.b[j]) {
		j++
	}
	return j < len(w.b) && w.b[j] == '['
}

// flat reads an array of scalars.
func (w *walker[T]) flat() error {
	if w.open() {
		return nil
	}
	for {
		w.space()
		if w.i >= len(w.b) {
			return errTruncated
		}
		if w.b[w.i] == '[' {
			return errors.New("data mixes arrays and numbers")
		}
		if err := w.scalar(); err != nil {
			return err
		}
		if closed, err := w.next(); closed || err != nil {
			return err
		}
	}
}

// nested reads an array at depth d whose length must be shape[d].
func (w *walker[T]) nested(d int) error {
	if d >= len(w.shape) {
		return fmt.Errorf("data nests deeper than shape %v", w.shape)
	}
	count := int64(0)
	if !w.open() {
		for {
			w.space()
			if w.i >= len(w.b) {
				return errTruncated
			}
			if err := w.element(d, &count); err != nil {
				return err
			}
			closed, err := w.next()
			if err != nil {
				return err
			}
			if closed {
				break
			}
		}
	}
	if count != w.shape[d] {
		return fmt.Errorf("data has %d elements in dimension %d, shape %v needs %d", count, d, w.shape, w.shape[d])
	}
	return nil
}

// element reads the element at w.i of an array at depth d, the count-th.
func (w *walker[T]) element(d int, count *int64) error {
	*count++
	if *count > w.shape[d] {
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
}

// open reads the '[' at w.i and reports whether the array is empty (reading
// its ']' too).
func (w *walker[T]) open() (empty bool) {
	w.i++ // '['
	w.space()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		return true
	}
	return false
}

// next reads the ',' or ']' after an array element; closed is true at ']'.
func (w *walker[T]) next() (closed bool, err error) {
	w.space()
	if w.i >= len(w.b) {
		return false, errTruncated
	}
	switch w.b[w.i] {
	case ',':
		w.i++
		return false, nil
	case ']':
		w.i++
		return true, nil
	}
	return false, fmt.Errorf("data: unexpected %q at byte %d", w.b[w.i], w.i)
}

// scalar parses the number or literal at w.i into out.
func (w *walker[T]) scalar() error {
	start := w.i
	switch c := w.b[w.i]; {
	case c == '-' || (c >= '0' && c <= '9'):
		for w.i < len(w.b) && isNumberByte(w.b[w.i]) {
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
	tok := w.b[start:w.i]
	v, err := w.parse(tok)
	if err != nil {
		return fmt.Errorf("data element %d: %s %w", len(w.out), tok, err)
	}
	w.out = append(w.out, v)
	return nil
}

func (w *walker[T]) space() {
	for w.i < len(w.b) && isSpace(w.b[w.i]) {
		w.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
