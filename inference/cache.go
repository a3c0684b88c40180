package inference

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Cache holds the serving model of each organization. Swap replaces a model
// atomically; requests that acquired the old model finish on it, and the old
// model is closed when the last of them releases it. Acquire takes no lock.
// A Model must be placed in at most one org of one Cache, which then owns it.
type Cache struct {
	mu    sync.Mutex                       // serializes writers
	slots atomic.Pointer[map[string]*slot] // copy-on-write: readers never lock
}

type slot struct{ m atomic.Pointer[Model] }

// NewCache returns an empty cache.
func NewCache() *Cache {
	c := &Cache{}
	c.slots.Store(&map[string]*slot{})
	return c
}

// Swap makes m the serving model of org and returns the model it replaced (nil if
// none). The replaced model is closed once its in-flight requests have released
// it; the caller may read its Info but must not use it otherwise. Swap(org, nil)
// is Remove(org). Swapping a model with itself does nothing and returns nil.
func (c *Cache) Swap(org string, m *Model) (old *Model) {
	if m == nil {
		return c.remove(org)
	}
	c.mu.Lock()
	cur := *c.slots.Load()
	s, ok := cur[org]
	if !ok {
		s = &slot{}
		s.m.Store(m)
		next := maps.Clone(cur)
		next[org] = s
		c.slots.Store(&next)
		c.mu.Unlock()
		return nil
	}
	old = s.m.Swap(m)
	c.mu.Unlock()
	if old == m {
		return nil
	}
	if old != nil {
		old.Close()
	}
	return old
}

// Remove stops serving org; its model is closed once its in-flight requests have
// released it. It reports whether org was served.
func (c *Cache) Remove(org string) bool {
	return c.remove(org) != nil
}

func (c *Cache) remove(org string) *Model {
	c.mu.Lock()
	cur := *c.slots.Load()
	s, ok := cur[org]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	next := maps.Clone(cur)
	delete(next, org)
	c.slots.Store(&next)
	old := s.m.Swap(nil)
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return old
}

// Close removes and closes every model.
func (c *Cache) Close() {
	for _, org := range c.Orgs() {
		c.remove(org)
	}
}

// Acquire returns org's serving model for one request and the function that
// releases it; ok is false if org has no serving model. The model stays usable
// until release is called, even if it is swapped out meanwhile. release must be
// called exactly once.
func (c *Cache) Acquire(org string) (m *Model, release func(), ok bool) {
	s, ok := (*c.slots.Load())[org]
	if !ok {
		return nil, nil, false
	}
	for {
		m = s.m.Load()
		if m == nil {
			return nil, nil, false
		}
		if m.acquire() {
			return m, m.releaseFn, true
		}
		if s.m.Load() == m {
			// Closed but still in place: someone closed a model the cache owns.
			return nil, nil, false
		}
	}
}

// Get returns the provenance and a copy of the signature of org's serving model.
func (c *Cache) Get(org string) (ModelInfo, Signature, bool) {
	m := c.serving(org)
	if m == nil {
		return ModelInfo{}, Signature{}, false
	}
	return m.info, m.sig.Clone(), true
}

// Info returns the provenance of org's serving model, as Get does without
// copying the signature: it takes no lock and does not allocate.
func (c *Cache) Info(org string) (ModelInfo, bool) {
	m := c.serving(org)
	if m == nil {
		return ModelInfo{}, false
	}
	return m.info, true
}

// serving returns org's serving model (nil if none) without holding it.
func (c *Cache) serving(org string) *Model {
	s, ok := (*c.slots.Load())[org]
	if !ok {
		return nil
	}
	return s.m.Load()
}

// Orgs lists the orgs with a serving model, sorted.
func (c *Cache) Orgs() []string {
	var orgs []string
	for org, s := range *c.slots.Load() {
		if s.m.Load() != nil {
			orgs = append(orgs, org)
		}
	}
	slices.Sort(orgs)
	return orgs
}
