package oip

import (
	"math/rand/v2"
	"testing"
)

// TestSlotIndexAgainstMap drives a slotIndex the way a shard does (a ring of
// slots evicting the oldest, ids seen again) and checks it against a Go map
// after every step. Hashes share few distinct lower bits, so that probe runs
// are long (and, with bits near all ones, wrap around the table's end into
// the entries at its start),
// deletions shift entries back and most entry bits collide, leaving matches
// to the slots' full hashes.
func TestSlotIndexAgainstMap(t *testing.T) {
	for _, tt := range []struct {
		name     string
		lowBits  uint // distinct lower bits of the hashes
		top      bool // half the ids' lower 32 bits near all ones: homes at the table's end
		ring     int
		distinct int // ids in play
	}{
		{"clustered", 3, false, 200, 600},
		{"wrapping", 3, true, 200, 600},
		{"colliding entries", 0, false, 64, 100},
		{"spread", 32, false, 500, 1500},
		{"ids repeat often", 5, true, 300, 320},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tt.lowBits)))
			ids := make([]uint64, tt.distinct)
			for i := range ids {
				low := rng.Uint64() & (1<<tt.lowBits - 1)
				if tt.top && i%2 == 0 {
					low = 1<<32 - 1 - low
				}
				ids[i] = rng.Uint64()&^(1<<32-1) | low
			}
			var idx slotIndex
			var slots []slot
			ref := map[uint64]uint32{}
			next := 0
			for step := range 6000 {
				h := ids[rng.IntN(len(ids))]
				var i uint32
				if len(slots) < tt.ring {
					slots = append(slots, slot{})
					i = uint32(len(slots) - 1)
				} else {
					i, next = uint32(next), (next+1)%tt.ring
					old := slots[i].hash
					if pos, ok := idx.find(old, slots); ok && idx.slot(pos) == i {
						idx.remove(pos)
					}
					if j, ok := ref[old]; ok && j == i {
						delete(ref, old)
					}
				}
				slots[i] = slot{hash: h}
				idx.set(h, i, slots)
				ref[h] = i
				if idx.n != len(ref) || 2*idx.n > len(idx.table) {
					t.Fatalf("step %d: %d entries in a table of %d, the map has %d", step, idx.n, len(idx.table), len(ref))
				}
				for _, id := range ids {
					pos, ok := idx.find(id, slots)
					want, wantOK := ref[id]
					if ok != wantOK || (ok && idx.slot(pos) != want) {
						t.Fatalf("step %d: find(%#x) = slot %d, %v; the map has %d, %v", step, id, idx.slot(pos), ok, want, wantOK)
					}
				}
			}
		})
	}
}
