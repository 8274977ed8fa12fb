package render

// Dir is the cache's directory; other content-addressed caches of a run
// (the stages' verdicts) live under it, pruned with it.
func (c *Cache) Dir() string { return c.dir }

// Salt identifies the gate build that writes and reads the cache.
func (c *Cache) Salt() string { return c.salt }
