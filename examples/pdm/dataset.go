package pdm

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Sample is one labeled row: the sensor readings X (in Features order) and Label,
// 1 when the machine failed within the maintenance horizon, else 0.
type Sample struct {
	X     [NumFeatures]float32
	Label int
}

// pcgStream is the second word of Dataset's PCG seed; seed supplies the first.
const pcgStream = 0x7461_6c6f_6e70_646d // "talonpdm"

// truth is the fleet's real failure process, in population-standardized units:
// P(failure) = sigmoid(truthSharpness · (truthW · z + truthB)). The models only
// approximate it, and the labels are Bernoulli draws, so no model is perfect.
var (
	truthW         = [NumFeatures]float64{2.0, 2.8, -0.5, 1.4, 0, 2.1}
	truthB         = -3.2
	truthSharpness = 1.0
)

// Dataset returns n samples of the fleet, deterministically: the same seed always
// gives the same samples, on every platform. A latent wear factor drives temperature,
// vibration and motor current together; pressure, rpm and run hours vary on their own.
// About a quarter of the samples are failures.
func Dataset(seed int64, n int) []Sample {
	r := rand.New(rand.NewPCG(uint64(seed), pcgStream))
	out := make([]Sample, n)
	for i := range out {
		out[i] = drawSample(r)
	}
	return out
}

// drawSample draws one sample. Every product is wrapped in float64() so the compiler
// cannot fuse it into a multiply-add, which would change the bits on some CPUs.
func drawSample(r *rand.Rand) Sample {
	wear := r.NormFloat64()
	mix := func(load, own float64) float64 {
		return float64(load*wear) + float64(own*r.NormFloat64())
	}
	raw := [NumFeatures]float64{
		clamp(80+float64(8*mix(0.6, 0.8)), 55, 115),
		clamp(4+float64(2.5*mix(0.7, 0.714)), 0.2, 15),
		clamp(6+float64(0.9*mix(-0.3, 0.954)), 3, 9),
		clamp(30+float64(6*mix(0.5, 0.866)), 10, 55),
		clamp(2000+float64(400*r.NormFloat64()), 1000, 3000),
		float64(20000 * r.Float64()),
	}
	decimals := [NumFeatures]float64{1, 2, 2, 1, 0, 0}
	var s Sample
	logit := truthB
	for i, v := range raw {
		s.X[i] = float32(roundTo(v, decimals[i]))
		z := (float64(s.X[i]) - float64(populationMean[i])) / float64(populationScale[i])
		logit += float64(truthW[i] * z)
	}
	p := 1 / (1 + math.Exp(-float64(truthSharpness*logit)))
	if r.Float64() < p {
		s.Label = 1
	}
	return s
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

// roundTo rounds v to the given number of decimal places.
func roundTo(v, decimals float64) float64 {
	p := math.Pow(10, decimals)
	return math.Round(float64(v*p)) / p
}

// csvHeader is the header row of the CSV form of a dataset.
var csvHeader = append(append([]string(nil), Features...), "label")

// WriteCSV writes samples as CSV: the header
// temperature,vibration,pressure,motor_current,rpm,run_hours,label, then one row per
// sample. Values use the shortest text that reads back as the same float32, so
// ReadCSV(WriteCSV(s)) == s.
func WriteCSV(w io.Writer, samples []Sample) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	row := make([]string, len(csvHeader))
	for i, s := range samples {
		for j, v := range s.X {
			row[j] = strconv.FormatFloat(float64(v), 'g', -1, 32)
		}
		row[NumFeatures] = strconv.Itoa(s.Label)
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// ReadCSV reads samples written by WriteCSV. The header must name exactly the columns
// WriteCSV writes, in order; every value must be a finite number and every label 0 or 1.
// Errors name the line (1-based, the header is line 1) and the column.
func ReadCSV(r io.Reader) ([]Sample, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with a better message
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("read csv: empty input, want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	if !slices.Equal(header, csvHeader) {
		return nil, fmt.Errorf("read csv: line 1: header is %q, want %q", header, csvHeader)
	}
	var out []Sample
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read csv: %w", err) // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		s, err := parseRow(rec)
		if err != nil {
			return nil, fmt.Errorf("read csv: line %d: %w", line, err)
		}
		out = append(out, s)
	}
}

// parseRow parses one CSV record into a Sample.
func parseRow(rec []string) (Sample, error) {
	var s Sample
	if len(rec) != len(csvHeader) {
		return s, fmt.Errorf("%d fields, want %d", len(rec), len(csvHeader))
	}
	for j := range s.X {
		v, err := strconv.ParseFloat(rec[j], 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return s, fmt.Errorf("column %s: %q is not a finite number", Features[j], rec[j])
		}
		s.X[j] = float32(v)
	}
	switch rec[NumFeatures] {
	case "0":
	case "1":
		s.Label = 1
	default:
		return s, fmt.Errorf("column label: %q, want 0 or 1", rec[NumFeatures])
	}
	return s, nil
}
