package sync

// applyCache holds recently read or written keys as of every group applied
// so far, so that the writer reads a hot key (a client's record, a member,
// a post being matched) from memory instead of from Pebble. Only the writer
// touches it. It is filled from a group's reads and writes once the group
// has been handed to Pebble, and emptied when a group is abandoned, so it
// never holds what Pebble does not.
//
// It is bounded by the bytes of its keys and values; when full, it drops
// arbitrary entries (Go's map order) until it is at three quarters.
type applyCache struct {
	entries map[string]cached
	size    int
	max     int
}

func newApplyCache(maxBytes int) *applyCache {
	return &applyCache{entries: make(map[string]cached), max: maxBytes}
}

func (c *applyCache) get(key []byte) (cached, bool) {
	v, ok := c.entries[string(key)]
	return v, ok
}

// merge adds a group's view of its entity keys (read again across groups;
// client records are kept decoded apart).
func (c *applyCache) merge(group map[string]cached) {
	if c.max <= 0 {
		return
	}
	for k, v := range group {
		if k[0] != prefixEntity {
			continue
		}
		if old, ok := c.entries[k]; ok {
			c.size -= len(k) + len(old.value)
		}
		c.entries[k] = v
		c.size += len(k) + len(v.value)
	}
	if c.size <= c.max {
		return
	}
	for k, v := range c.entries {
		delete(c.entries, k)
		c.size -= len(k) + len(v.value)
		if c.size <= c.max*3/4 {
			return
		}
	}
}

// reset forgets everything.
func (c *applyCache) reset() {
	clear(c.entries)
	c.size = 0
}
