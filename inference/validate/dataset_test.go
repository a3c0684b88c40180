package validate_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference/validate"
)

func TestReadDataset(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		opts validate.DatasetOptions
		want *validate.Dataset
	}{
		{"file order", "a,b,label\n1,2,0\n3,4,1\n", validate.DatasetOptions{},
			&validate.Dataset{Columns: []string{"a", "b"}, X: []float32{1, 2, 3, 4}, Labels: []bool{false, true}, Rows: 2}},
		{"label first, by name", "label,b,a\n1,2,3\n0,5,6\n", validate.DatasetOptions{Features: []string{"a", "b"}},
			&validate.Dataset{Columns: []string{"a", "b"}, ByName: true, X: []float32{3, 2, 6, 5}, Labels: []bool{true, false}, Rows: 2}},
		{"names differ: file order", "x,y,label\n1,2,0\n", validate.DatasetOptions{Features: []string{"a", "b"}},
			&validate.Dataset{Columns: []string{"x", "y"}, X: []float32{1, 2}, Labels: []bool{false}, Rows: 1}},
		{"BOM, spaces, other label column", "\ufeff a , target \n 1.5 , 1 \n", validate.DatasetOptions{LabelColumn: "target", Features: []string{"a"}},
			&validate.Dataset{Columns: []string{"a"}, ByName: true, X: []float32{1.5}, Labels: []bool{true}, Rows: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := validate.ReadDataset(strings.NewReader(tt.csv), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadDatasetErrors(t *testing.T) {
	big := "a,label\n" + strings.Repeat("1,0\n", 100)
	tests := []struct {
		name, csv string
		max       int64
		wantIn    string // the line or bound the message must name
	}{
		{"empty", "", 0, "empty input"},
		{"no label column", "a,b\n1,2\n", 0, `no "label" column`},
		{"label twice", "label,a,label\n0,1,0\n", 0, "appears twice"},
		{"only label", "label\n1\n", 0, "no feature columns"},
		{"no rows", "a,label\n", 0, "no rows"},
		{"not a number", "a,label\n1,0\nx,1\n", 0, `line 3: column "a": "x"`},
		{"infinite", "a,label\n1e39,0\n", 0, `line 2: column "a"`},
		{"label 2", "a,label\n1,2\n", 0, `line 2: column "label": "2", want 0 or 1`},
		{"ragged row", "a,label\n1,0,5\n", 0, "line 2"},
		{"too large", big, int64(len(big) - 1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validate.ReadDataset(bytes.NewReader([]byte(tt.csv)), validate.DatasetOptions{MaxBytes: tt.max})
			if !errors.Is(err, validate.ErrDataset) {
				t.Fatalf("err = %v, want ErrDataset", err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("err = %q, want it to name %q", err, tt.wantIn)
			}
		})
	}
	if _, err := validate.ReadDataset(strings.NewReader(big), validate.DatasetOptions{MaxBytes: int64(len(big))}); err != nil {
		t.Errorf("a dataset of exactly MaxBytes: %v", err)
	}
}
