package validate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Dataset is a labeled validation table: Rows rows of len(Columns) float32
// features each, in Columns order, row-major in X, and one 0/1 label per row.
type Dataset struct {
	// Columns names the feature columns in the order X holds them (the model's
	// input order).
	Columns []string
	// ByName is true when the columns were matched to the expected feature
	// names, false when they are in the file's order.
	ByName bool
	X      []float32
	Labels []bool
	Rows   int
}

// DatasetOptions tells ReadDataset how to read a CSV table.
type DatasetOptions struct {
	// LabelColumn names the 0/1 target column. The default is "label".
	LabelColumn string
	// Features are the expected feature names in the model's input order. When
	// the file's other columns are exactly these names (in any order), they are
	// fed by name; otherwise, or when Features is empty, in the file's order.
	Features []string
	// MaxBytes bounds the input. The default is 64 MiB.
	MaxBytes int64
}

// DefaultMaxDatasetBytes is the default DatasetOptions.MaxBytes.
const DefaultMaxDatasetBytes = 64 << 20

// ReadDataset reads a CSV table with a header line: the LabelColumn holds the
// target (0 or 1) and every other column a feature (a finite number read as
// float32). A UTF-8 byte-order mark and spaces around header names are ignored.
// Errors name the line and column and match ErrDataset.
func ReadDataset(r io.Reader, opts DatasetOptions) (*Dataset, error) {
	ds, err := readDataset(r, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	return ds, nil
}

func readDataset(r io.Reader, opts DatasetOptions) (ds *Dataset, err error) {
	label := opts.LabelColumn
	if label == "" {
		label = "label"
	}
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxDatasetBytes
	}
	lr := &io.LimitedReader{R: r, N: limit + 1}
	defer func() {
		if lr.N <= 0 { // whatever went wrong, the input was cut off
			ds, err = nil, fmt.Errorf("larger than %d bytes", limit)
		}
	}()
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty input, want a CSV header line")
	}
	if err != nil {
		return nil, err
	}
	header = slices.Clone(header)
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	labelAt := -1
	var feats []int // header indexes of the features, in input order
	for i, h := range header {
		header[i] = strings.TrimSpace(h)
		if header[i] == label {
			if labelAt >= 0 {
				return nil, fmt.Errorf("line 1: column %q appears twice", label)
			}
			labelAt = i
			continue
		}
		feats = append(feats, i)
	}
	if labelAt < 0 {
		return nil, fmt.Errorf("line 1: no %q column in header %q", label, header)
	}
	if len(feats) == 0 {
		return nil, fmt.Errorf("line 1: no feature columns besides %q", label)
	}
	ds = &Dataset{}
	if byName := matchNames(header, feats, opts.Features); byName != nil {
		feats, ds.ByName = byName, true
	}
	for _, i := range feats {
		ds.Columns = append(ds.Columns, header[i])
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // a csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		for _, i := range feats {
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d: column %q: %q is not a finite number", line, header[i], rec[i])
			}
			ds.X = append(ds.X, float32(v))
		}
		switch strings.TrimSpace(rec[labelAt]) {
		case "0":
			ds.Labels = append(ds.Labels, false)
		case "1":
			ds.Labels = append(ds.Labels, true)
		default:
			return nil, fmt.Errorf("line %d: column %q: %q, want 0 or 1", line, label, rec[labelAt])
		}
		ds.Rows++
	}
	if ds.Rows == 0 {
		return nil, errors.New("no rows after the header")
	}
	return ds, nil
}

// matchNames returns the header indexes of want, in want's order, when the
// feature columns feats are exactly the names in want; otherwise nil.
func matchNames(header []string, feats []int, want []string) []int {
	if len(want) == 0 || len(want) != len(feats) {
		return nil
	}
	at := make(map[string]int, len(feats))
	for _, i := range feats {
		if _, dup := at[header[i]]; dup {
			return nil
		}
		at[header[i]] = i
	}
	out := make([]int, 0, len(want))
	for _, name := range want {
		i, ok := at[name]
		if !ok {
			return nil
		}
		delete(at, name) // a name listed twice in want fails the next lookup
		out = append(out, i)
	}
	return out
}
