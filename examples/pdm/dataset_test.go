package pdm

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDatasetDeterministic(t *testing.T) {
	a, b := Dataset(7, 300), Dataset(7, 300)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different samples (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(a[:100], Dataset(7, 100)); diff != "" {
		t.Errorf("Dataset(7, 100) is not a prefix of Dataset(7, 300):\n%s", diff)
	}
	other := Dataset(8, 300)
	same := 0
	for i := range a {
		if a[i] == other[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 7 and 8 share %d of 300 samples, want none", same)
	}
}

func TestDatasetRangesAndRate(t *testing.T) {
	lo := [NumFeatures]float32{55, 0, 3, 10, 1000, 0} // the ranges documented on Features
	hi := [NumFeatures]float32{115, 15, 9, 55, 3000, 20000}
	data := Dataset(11, 5000)
	failures := 0
	for i, s := range data {
		for j, v := range s.X {
			if v < lo[j] || v > hi[j] {
				t.Fatalf("sample %d: %s = %v, want in [%v, %v]", i, Features[j], v, lo[j], hi[j])
			}
		}
		failures += s.Label
	}
	if rate := float64(failures) / float64(len(data)); rate < 0.2 || rate > 0.35 {
		t.Errorf("failure rate %v, want in [0.2, 0.35]", rate)
	}
}

func TestGoodModelsBeatPoorOnManySeeds(t *testing.T) {
	for seed := int64(100); seed < 105; seed++ {
		data := Dataset(seed, 2000)
		v1, v2, poor := MetadataFor("v1", V1(), data), MetadataFor("v2", V2(), data), MetadataFor("poor", Poor(), data)
		if v1.Accuracy < 0.85 || v2.Accuracy < 0.85 || poor.Accuracy > 0.7 {
			t.Errorf("seed %d: accuracy v1 %v, v2 %v, poor %v; want ≥ 0.85, ≥ 0.85, ≤ 0.7",
				seed, v1.Accuracy, v2.Accuracy, poor.Accuracy)
		}
	}
}

func TestCSVRoundTrip(t *testing.T) {
	data := Dataset(3, 250)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, data); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(buf.String(), "\n"); first != "temperature,vibration,pressure,motor_current,rpm,run_hours,label" {
		t.Errorf("header = %q", first)
	}
	got, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(data, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestReadCSVErrors(t *testing.T) {
	const header = "temperature,vibration,pressure,motor_current,rpm,run_hours,label\n"
	const good = "80,4,6,30,2000,10000,0\n"
	for _, tc := range []struct {
		name, input, want string
	}{
		{"empty", "", "empty input"},
		{"wrong header", "temp,vib,pressure,motor_current,rpm,run_hours,label\n", "line 1: header"},
		{"not a number", header + good + "80,loud,6,30,2000,10000,0\n", `line 3: column vibration: "loud"`},
		{"NaN", header + good + good + "NaN,4,6,30,2000,10000,0\n", "line 4: column temperature"},
		{"too few fields", header + "80,4,6,30,2000,0\n", "line 2: 6 fields, want 7"},
		{"bad label", header + good + "80,4,6,30,2000,10000,2\n", `line 3: column label: "2"`},
		{"bad quoting", header + good + good + "80,\"4,6,30,2000,10000,0\n", "line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadCSV error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	data := []Sample{{Label: 1}, {Label: 1}, {Label: 0}, {Label: 0}, {Label: 0}}
	probs := []float32{0.9, 0.2, 0.6, 0.1, 0.3} // tp, fn, fp, tn, tn
	got, err := Evaluate(probs, data)
	if err != nil {
		t.Fatal(err)
	}
	var logLoss float64
	for _, q := range []float32{0.9, 0.2, 1 - 0.6, 1 - 0.1, 1 - 0.3} { // P(true label)
		logLoss -= math.Log(float64(q))
	}
	want := Evaluation{Accuracy: 0.6, Precision: 0.5, Recall: 0.5, F1: 0.5, FailureRate: 0.4,
		LogLoss: math.Round(logLoss/5*1e6) / 1e6}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 2e-6)); diff != "" {
		t.Errorf("Evaluate (-want +got):\n%s", diff)
	}
	if _, err := Evaluate(probs[:4], data); err == nil {
		t.Error("Evaluate with 4 probabilities for 5 samples succeeded")
	}
}
