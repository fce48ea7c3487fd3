package gateway

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// maxEntries bounds the cache: past it, labs that do not exist (requests
// for made-up names) are no longer remembered.
const maxEntries = 50000

// entry is what the gateway knows of one lab: the lab (nil: none of that
// name) and the digest of its token.
type entry struct {
	lab      *api.LabInstanceRequest
	token    [sha256.Size]byte
	hasToken bool
	read     time.Time
}

// cache holds labs read from the store for ttl. Concurrent misses of one
// lab share a single read.
type cache struct {
	store Store
	ttl   time.Duration
	group singleflight.Group

	mu      sync.RWMutex
	entries map[api.Key]*entry
}

func newCache(s Store, ttl time.Duration) *cache {
	return &cache{store: s, ttl: ttl, entries: map[api.Key]*entry{}}
}

// get returns the lab of key, from the cache if read within ttl.
func (c *cache) get(ctx context.Context, key api.Key) (*entry, error) {
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e != nil && time.Since(e.read) < c.ttl {
		return e, nil
	}
	v, err, _ := c.group.Do(key.String(), func() (any, error) {
		// Not the caller's context: one caller going away must not fail
		// the others waiting on the same read.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return c.read(rctx, key)
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

func (c *cache) read(ctx context.Context, key api.Key) (*entry, error) {
	lab, token, err := c.store.GatewayLab(ctx, key)
	e := &entry{read: time.Now()}
	switch {
	case api.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		e.lab = lab
		if token != "" {
			e.token, e.hasToken = sha256.Sum256([]byte(token)), true
		}
	}
	c.mu.Lock()
	if e.lab != nil || len(c.entries) < maxEntries {
		c.entries[key] = e
	}
	c.mu.Unlock()
	return e, nil
}

// forget drops key.
func (c *cache) forget(key api.Key) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// sweep drops entries past their ttl, so that labs long gone do not stay.
func (c *cache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if time.Since(e.read) >= c.ttl {
			delete(c.entries, k)
		}
	}
}
