package oip

import (
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the prediction memory that feedback is matched against.
const (
	// DefaultFeedbackCapacity is the number of recent predictions remembered per
	// org; the oldest is forgotten when a new one arrives. A remembered
	// prediction takes about 72 bytes (plus 8 per row beyond the first),
	// measured; one-row ones hold no pointers for the garbage collector to
	// scan. A full org holds ~7 MB.
	DefaultFeedbackCapacity = 100_000
	// DefaultFeedbackTTL is how long a prediction accepts feedback.
	DefaultFeedbackTTL = time.Hour
	// DefaultFeedbackMaxRows is the largest batch whose predictions are
	// remembered; feedback for a larger request is refused (422).
	DefaultFeedbackMaxRows = 64
)

// predictionShards splits an org's memory so concurrent requests rarely
// share a lock; a shard is picked by the top bits of the id's hash.
const (
	shardBits        = 4
	predictionShards = 1 << shardBits
)

// Errors of predictions.get and answer.
var (
	errNoPrediction = errors.New("no such prediction")
	errExpired      = errors.New("prediction expired")
	errAnswered     = errors.New("feedback already given")
)

// predictions remembers each org's recent predictions by request id, for
// feedback: per org and shard a ring of slots evicting the oldest, indexed
// (slotIndex) by a 64-bit keyed hash of the id (two ids colliding is a 2⁻⁶⁴
// event per pair: the later replaces the earlier), plus a TTL checked on use. A request id
// seen again replaces the earlier prediction. The slots hold no pointers, so
// a full memory costs the garbage collector nothing to scan.
type predictions struct {
	perShard int
	ttl      time.Duration
	seed     maphash.Seed

	mu       sync.Mutex                            // serializes writers of orgs and versions
	orgs     atomic.Pointer[map[string]*orgMemory] // copy-on-write
	versions atomic.Pointer[map[string]uint32]     // interned version names, copy-on-write
	names    []string                              // guarded by mu; index → version
}

type orgMemory struct{ shards [predictionShards]shard }

type shard struct {
	mu    sync.Mutex
	index slotIndex // id hash → slot
	slots []slot    // a ring once it holds perShard slots
	next  int       // the slot to reuse next, once full
	batch map[uint64][]int64
}

// slot is one remembered prediction.
type slot struct {
	hash     uint64
	at       int64 // Unix nanoseconds
	class    int64 // the class of a one-row prediction
	version  uint32
	rows     uint32 // 0 when unscorable (see why); > 1: classes in shard.batch
	why      unscorable
	answered bool
}

// prediction is what get returns of a remembered prediction.
type prediction struct {
	slot    uint32
	at      int64
	version string
	classes []int64 // one per row; nil when unscorable
	why     string  // why the prediction cannot be scored
}

// unscorable says why an output cannot be scored (see classesOf).
type unscorable struct {
	code     uint8 // 0: scorable
	datatype uint8 // index in inference.Datatypes()
	n, max   uint32
}

const (
	scorable uint8 = iota
	emptyOutput
	tooManyRows
	manyPerRow
)

func (u unscorable) String() string {
	switch u.code {
	case emptyOutput:
		return "the scored output is empty"
	case tooManyRows:
		return fmt.Sprintf("the request had %d rows; feedback is taken for requests of at most %d", u.n, u.max)
	}
	return fmt.Sprintf("the scored output has %d %s values per row; only one class label per row can be scored", u.n, datatypeName(u.datatype))
}

func newPredictions(capacity int, ttl time.Duration) *predictions {
	p := &predictions{perShard: max(1, (capacity+predictionShards-1)/predictionShards), ttl: ttl, seed: maphash.MakeSeed()}
	p.orgs.Store(&map[string]*orgMemory{})
	p.versions.Store(&map[string]uint32{})
	return p
}

// shard returns the shard of id in org's memory (nil if org has none and
// create is false) and the id's hash.
func (p *predictions) shard(org, id string, create bool) (*shard, uint64) {
	h := maphash.String(p.seed, id)
	mem, ok := (*p.orgs.Load())[org]
	if !ok {
		if !create {
			return nil, h
		}
		p.mu.Lock()
		cur := *p.orgs.Load()
		if mem, ok = cur[org]; !ok {
			mem = &orgMemory{}
			next := maps.Clone(cur)
			next[org] = mem
			p.orgs.Store(&next)
		}
		p.mu.Unlock()
	}
	return &mem.shards[h>>(64-shardBits)], h
}

// versionIndex interns version.
func (p *predictions) versionIndex(version string) uint32 {
	if i, ok := (*p.versions.Load())[version]; ok {
		return i
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := *p.versions.Load()
	if i, ok := cur[version]; ok {
		return i
	}
	i := uint32(len(p.names))
	p.names = append(p.names, version)
	next := maps.Clone(cur)
	next[version] = i
	p.versions.Store(&next)
	return i
}

func (p *predictions) versionName(i uint32) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[i]
}

// remember stores the prediction made at now for request id of org by
// version: classes (one per row; not kept), or why it cannot be scored.
func (p *predictions) remember(org, id, version string, classes []int64, why unscorable, now time.Time) {
	s, h := p.shard(org, id, true)
	sl := slot{hash: h, at: now.UnixNano(), version: p.versionIndex(version), rows: uint32(len(classes)), why: why}
	if len(classes) == 1 {
		sl.class = classes[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch == nil {
		s.batch = make(map[uint64][]int64)
	}
	var i int
	if len(s.slots) < p.perShard {
		s.slots = append(s.slots, slot{})
		i = len(s.slots) - 1
	} else {
		i = s.next
		s.next = (s.next + 1) % p.perShard
		old := s.slots[i].hash
		if pos, ok := s.index.find(old, s.slots); ok && s.index.slot(pos) == uint32(i) {
			s.index.remove(pos)
			delete(s.batch, old)
		}
	}
	s.slots[i] = sl
	s.index.set(h, uint32(i), s.slots)
	if len(classes) > 1 {
		s.batch[h] = slices.Clone(classes) // classes may be the caller's buffer
	} else {
		delete(s.batch, h) // an id re-used for a smaller request
	}
}

// get returns the prediction for id of org, or errNoPrediction, errExpired or
// errAnswered.
func (p *predictions) get(org, id string, now time.Time) (prediction, error) {
	s, h := p.shard(org, id, false)
	if s == nil {
		return prediction{}, errNoPrediction
	}
	s.mu.Lock()
	pos, ok := s.index.find(h, s.slots)
	if !ok {
		s.mu.Unlock()
		return prediction{}, errNoPrediction
	}
	i := s.index.slot(pos)
	sl := s.slots[i]
	pr := prediction{slot: i, at: sl.at}
	switch {
	case sl.rows == 1:
		pr.classes = []int64{sl.class}
	case sl.rows > 1:
		pr.classes = append([]int64(nil), s.batch[h]...)
	default:
		pr.why = sl.why.String()
	}
	s.mu.Unlock()
	pr.version = p.versionName(sl.version)
	switch {
	case now.UnixNano()-sl.at > int64(p.ttl):
		return pr, errExpired
	case sl.answered:
		return pr, errAnswered
	}
	return pr, nil
}

// answer marks the prediction of id that get returned answered; errAnswered
// if it already was, errNoPrediction if it was replaced or forgotten since.
func (p *predictions) answer(org, id string, pr prediction) error {
	s, h := p.shard(org, id, false)
	if s == nil {
		return errNoPrediction
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos, ok := s.index.find(h, s.slots); !ok || s.index.slot(pos) != pr.slot {
		return errNoPrediction
	}
	sl := &s.slots[pr.slot]
	if sl.at != pr.at {
		return errNoPrediction
	}
	if sl.answered {
		return errAnswered
	}
	sl.answered = true
	return nil
}
