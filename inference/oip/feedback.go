package oip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/eaglenotifier/talon/inference"
)

// DefaultThreshold is the probability at or above which a single-probability
// output predicts class 1, unless SetThreshold says otherwise for the org.
const DefaultThreshold = 0.5

// maxFeedbackBody bounds a feedback request body.
const maxFeedbackBody = 64 << 10

// SetThreshold sets the decision threshold of org's probability outputs (see
// the feedback section of the package documentation); t must be in [0, 1].
// It applies to predictions made from then on.
func (s *Server) SetThreshold(org string, t float64) error {
	if math.IsNaN(t) || t < 0 || t > 1 {
		return fmt.Errorf("threshold of %s: %v is not in [0, 1]", org, t)
	}
	s.thresholds.Store(org, t)
	return nil
}

// Threshold returns org's decision threshold (DefaultThreshold unless set).
func (s *Server) Threshold(org string) float64 {
	if t, ok := s.thresholds.Load(org); ok {
		return t.(float64)
	}
	return DefaultThreshold
}

// remember keeps the prediction in outs (the response to request id of org,
// served by version) for feedback. The scored output is the model's first
// output, named first; a response without it is not remembered.
func (s *Server) remember(org, id, version, first string, outs []inference.Tensor, now time.Time) {
	if s.preds == nil {
		return
	}
	for _, t := range outs {
		if t.Name == first {
			var one [1]int64 // the classes of a one-row prediction, without allocating
			classes, why := classesOf(one[:0], t, s.Threshold(org), s.opts.FeedbackMaxRows)
			s.preds.remember(org, id, version, classes, why, now)
			return
		}
	}
}

// classesOf derives the predicted class of each row (dimension 0) of output t:
// one float per row is a probability of class 1, predicted at ≥ threshold; two
// floats per row are the probabilities of classes 0 and 1 (class 1 at ≥
// threshold); more floats per row predict their argmax; one integer or boolean
// per row is the class itself. Anything else, or more than maxRows rows, cannot
// be scored: classes is nil and why says why. classes is dst's array when it
// has room.
func classesOf(dst []int64, t inference.Tensor, threshold float64, maxRows int) (classes []int64, why unscorable) {
	rows, total := int64(1), int64(1)
	for i, d := range t.Shape {
		if i == 0 {
			rows = d
		}
		total *= d
	}
	switch {
	case rows <= 0 || total <= 0:
		return nil, unscorable{code: emptyOutput}
	case rows > int64(maxRows):
		return nil, unscorable{code: tooManyRows, n: uint32(min(rows, math.MaxUint32)), max: uint32(maxRows)}
	}
	k := int(total / rows)
	switch d := t.Data.(type) {
	case []float32:
		return floatClasses(dst, d, int(rows), k, threshold), why
	case []float64:
		return floatClasses(dst, d, int(rows), k, threshold), why
	case []bool:
		if k == 1 {
			classes = zeroed(dst, len(d))
			for i, v := range d {
				if v {
					classes[i] = 1
				}
			}
		}
	case []int64:
		classes = intClasses(dst, d, k)
	case []int32:
		classes = intClasses(dst, d, k)
	case []int16:
		classes = intClasses(dst, d, k)
	case []int8:
		classes = intClasses(dst, d, k)
	case []uint64:
		classes = intClasses(dst, d, k)
	case []uint32:
		classes = intClasses(dst, d, k)
	case []uint16:
		classes = intClasses(dst, d, k)
	case []uint8:
		classes = intClasses(dst, d, k)
	}
	if classes != nil {
		return classes, why
	}
	return nil, unscorable{code: manyPerRow, n: uint32(min(k, math.MaxUint32)), datatype: datatypeIndex(t.Datatype)}
}

// zeroed returns n zeros in dst's array if it has room, else in a new one.
func zeroed(dst []int64, n int) []int64 {
	if cap(dst) < n {
		return make([]int64, n)
	}
	d := dst[:n]
	clear(d)
	return d
}

func floatClasses[T float32 | float64](dst []int64, d []T, rows, k int, threshold float64) []int64 {
	classes := zeroed(dst, rows)
	for r := range rows {
		row := d[r*k : (r+1)*k]
		switch k {
		case 1, 2:
			if float64(row[k-1]) >= threshold {
				classes[r] = 1
			}
		default:
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			classes[r] = int64(best)
		}
	}
	return classes
}

// intClasses returns the one integer per row of d as classes (nil if k ≠ 1).
func intClasses[T signed | unsigned](dst []int64, d []T, k int) []int64 {
	if k != 1 {
		return nil
	}
	classes := zeroed(dst, len(d))
	for i, v := range d {
		classes[i] = int64(v)
	}
	return classes
}

// datatypeIndex and datatypeName map an OIP datatype to a small number and back.
func datatypeIndex(dt string) uint8 {
	for i, name := range inference.Datatypes() {
		if name == dt {
			return uint8(i)
		}
	}
	return math.MaxUint8
}

func datatypeName(i uint8) string {
	if all := inference.Datatypes(); int(i) < len(all) {
		return all[i]
	}
	return "unknown"
}

// label is an actual outcome: a JSON integer (or integral number) or boolean.
type label int64

func (l *label) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*l = 1
		return nil
	case "false":
		*l = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("label %s: want a class number (0, 1, …) or true/false", b)
		}
		n = int64(f)
	}
	*l = label(n)
	return nil
}

type feedbackRequest struct {
	ID     *string `json:"id"`
	Label  *label  `json:"label"`
	Actual *label  `json:"actual"`
	Labels []label `json:"labels"`
}

type feedbackResponse struct {
	ID             string   `json:"id"`
	ModelName      string   `json:"model_name"`
	ModelVersion   string   `json:"model_version"`
	Rows           int      `json:"rows"`
	Correct        int      `json:"correct"`
	Predicted      []int64  `json:"predicted"`
	Actual         []int64  `json:"actual"`
	WindowAccuracy *float64 `json:"window_accuracy,omitempty"`
	WindowFeedback *int64   `json:"window_feedback,omitempty"`
}

// feedback serves POST /v2/models/{org}/feedback.
func (s *Server) feedback(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	if s.preds == nil {
		writeError(w, http.StatusNotFound, "feedback is disabled on this server")
		return
	}
	fr, actual, err := decodeFeedback(http.MaxBytesReader(w, r.Body, maxFeedbackBody))
	if err != nil {
		writeError(w, decodeStatus(err), err.Error())
		return
	}
	now := time.Now()
	p, err := s.preds.get(org, *fr.ID, now)
	if err == nil && p.classes == nil {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("prediction %q of model %q cannot be scored: %s", *fr.ID, org, p.why))
		return
	}
	if err == nil && len(actual) != len(p.classes) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("prediction %q of model %q has %d rows, the feedback gives %d labels (use \"labels\": [...] for a batch)", *fr.ID, org, len(p.classes), len(actual)))
		return
	}
	if err == nil {
		err = s.preds.answer(org, *fr.ID, p)
	}
	if err != nil {
		writeFeedbackError(w, org, *fr.ID, err, s.opts.FeedbackCapacity, s.opts.FeedbackTTL)
		return
	}
	resp := feedbackResponse{ID: *fr.ID, ModelName: org, ModelVersion: p.version, Rows: len(actual), Predicted: p.classes, Actual: make([]int64, len(actual))}
	for i, a := range actual {
		resp.Actual[i] = int64(a)
		if int64(a) == p.classes[i] {
			resp.Correct++
		}
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.ObserveFeedback(org, p.version, resp.Rows, resp.Correct)
	}
	if s.opts.Monitor != nil {
		s.opts.Monitor.ObserveFeedback(org, p.version, now, resp.Rows, resp.Correct)
		if st, ok := s.opts.Monitor.SnapshotVersion(org, p.version); ok {
			resp.WindowAccuracy, resp.WindowFeedback = &st.Accuracy, &st.Feedback
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func decodeFeedback(body io.Reader) (feedbackRequest, []label, error) {
	var fr feedbackRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fr, nil, err
		}
		return fr, nil, fmt.Errorf("%w: feedback body: %v (want {\"id\": \"<request id>\", \"label\": 0|1} or \"labels\": [...])", ErrBadRequest, err)
	}
	if dec.More() {
		return fr, nil, fmt.Errorf("%w: data after the feedback object", ErrBadRequest)
	}
	if fr.ID == nil || *fr.ID == "" {
		return fr, nil, fmt.Errorf("%w: feedback needs \"id\", the id of the infer response", ErrBadRequest)
	}
	var actual []label
	given := 0
	for _, l := range []*label{fr.Label, fr.Actual} {
		if l != nil {
			actual = []label{*l}
			given++
		}
	}
	if fr.Labels != nil {
		actual = fr.Labels
		given++
	}
	if given != 1 || len(actual) == 0 {
		return fr, nil, fmt.Errorf("%w: feedback needs exactly one of \"label\", \"actual\" or a non-empty \"labels\"", ErrBadRequest)
	}
	return fr, actual, nil
}

func writeFeedbackError(w http.ResponseWriter, org, id string, err error, capacity int, ttl time.Duration) {
	switch {
	case errors.Is(err, errAnswered):
		writeError(w, http.StatusConflict, fmt.Sprintf("feedback for prediction %q of model %q was already given", id, org))
	case errors.Is(err, errExpired):
		writeError(w, http.StatusNotFound, fmt.Sprintf("prediction %q of model %q has expired: feedback is taken for %v", id, org, ttl))
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no prediction %q of model %q is remembered: the id is unknown, or was evicted (the last %d predictions per model are kept)", id, org, capacity))
	}
}
