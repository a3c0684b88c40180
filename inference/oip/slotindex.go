package oip

// slotIndex maps the 64-bit hash of a request id to the slot of a shard's ring
// that holds its prediction. It is an open-addressing table with linear
// probing, at most half full, that deletes by shifting entries back (no
// tombstones). An entry packs the hash's lower 32 bits (which also pick its
// home position) with the slot number plus one (0 is an empty entry); a match
// on those bits is confirmed against the full hash kept in the slot. A lookup
// thus touches about one cache line of the table and the matching slot, where
// a Go map touched several, and the table holds no pointers. It grows by
// doubling as the ring fills and never shrinks.
type slotIndex struct {
	table []uint64
	n     int // entries
}

const minIndexSize = 64 // entries of a new table (a power of two)

func entryOf(h uint64, slot uint32) uint64 { return h<<32 | uint64(slot+1) }

func (e *slotIndex) mask() uint64 { return uint64(len(e.table) - 1) }

// find returns the position of hash h's entry and whether it is there; when
// not, pos is the empty entry where h would go. slots holds the hashes the
// entries point to.
func (e *slotIndex) find(h uint64, slots []slot) (pos uint64, ok bool) {
	if len(e.table) == 0 {
		return 0, false
	}
	m := e.mask()
	for i := h & m; ; i = (i + 1) & m {
		x := e.table[i]
		if x == 0 {
			return i, false
		}
		if uint32(x>>32) == uint32(h) && slots[uint32(x)-1].hash == h {
			return i, true
		}
	}
}

// slot returns the slot of the entry at pos.
func (e *slotIndex) slot(pos uint64) uint32 { return uint32(e.table[pos]) - 1 }

// set points hash h at slot: it replaces h's entry or adds one.
func (e *slotIndex) set(h uint64, slot uint32, slots []slot) {
	if pos, ok := e.find(h, slots); ok {
		e.table[pos] = entryOf(h, slot)
		return
	}
	if 2*(e.n+1) > len(e.table) {
		e.grow()
	}
	pos, _ := e.find(h, slots)
	e.table[pos] = entryOf(h, slot)
	e.n++
}

// grow doubles the table (or makes the first one) and re-inserts the entries,
// whose home positions follow from the bits they keep.
func (e *slotIndex) grow() {
	old := e.table
	e.table = make([]uint64, max(minIndexSize, 2*len(old)))
	m := e.mask()
	for _, x := range old {
		if x == 0 {
			continue
		}
		i := (x >> 32) & m
		for e.table[i] != 0 {
			i = (i + 1) & m
		}
		e.table[i] = x
	}
}

// remove deletes the entry at pos, moving later entries of the same probe
// run back so that every entry stays reachable from its home position.
func (e *slotIndex) remove(pos uint64) {
	m := e.mask()
	i := pos
	for j := (i + 1) & m; e.table[j] != 0; j = (j + 1) & m {
		home := (e.table[j] >> 32) & m
		// The entry at j stays if its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		e.table[i] = e.table[j]
		i = j
	}
	e.table[i] = 0
	e.n--
}
