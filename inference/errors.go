package inference

import (
	"errors"
	"fmt"
)

// ErrBadInput is matched (errors.Is) by every error Infer returns because the
// request itself is wrong: unknown or missing tensor names, wrong datatype, shape
// or data length. An HTTP layer maps it to 400.
var ErrBadInput = errors.New("bad inference input")

// ErrClosed is returned by Infer on a model that has been closed.
var ErrClosed = errors.New("model is closed")

// InputError describes one thing wrong with an inference request. It matches
// ErrBadInput.
type InputError struct {
	// Kind is "input" or "output" ("" for the request as a whole).
	Kind string
	// Name is the tensor's name ("" for the request as a whole).
	Name string
	// Reason says what is wrong and what was expected.
	Reason string
}

// Error formats the error as `input "x": shape [2 5] does not match [-1 4]`.
func (e *InputError) Error() string {
	if e.Name == "" && e.Kind == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s %q: %s", e.Kind, e.Name, e.Reason)
}

// Is reports whether target is ErrBadInput.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

func inputErr(name, format string, args ...any) error {
	return &InputError{Kind: "input", Name: name, Reason: fmt.Sprintf(format, args...)}
}
