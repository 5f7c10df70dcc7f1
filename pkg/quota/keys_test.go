package quota

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// clusterTag applies Redis Cluster's hash-tag rule: the slot is computed from
// the text between the first '{' and the next '}', if that text is non-empty,
// else from the whole key.
func clusterTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// FuzzKeys checks, for any consumer and model names a config may hold, that
// every key a script touches shares one hash tag (so Cluster accepts the
// script), that different consumers never share a tag, and that no model
// scope key equals another scope's key.
func FuzzKeys(f *testing.F) {
	f.Add("team-a", "gpt-4o", "team-b", "m:1")
	f.Add("", "}", "=", "{")
	f.Add("a}b", "x", "=61}62", ":m:x")
	f.Fuzz(func(t *testing.T, consumer, model, other, otherModel string) {
		r := &RedisStore{prefix: "quota:"}
		p := Periods{Minute: 29453760, Day: 20454, Month: 24312}
		keys := r.scopeKeys(consumer, model, p)
		tag := clusterTag(keys[0])
		for _, k := range keys {
			if clusterTag(k) != tag {
				t.Fatalf("keys %q and %q hash differently", keys[0], k)
			}
		}
		if consumer != other && hashTag(consumer) == hashTag(other) {
			t.Fatalf("consumers %q and %q share hash tag %q", consumer, other, hashTag(other))
		}
		if model == "" || otherModel == model {
			return
		}
		seen := map[string]string{}
		for _, m := range []string{"", model, otherModel} {
			for _, k := range r.scopeKeys(consumer, m, p)[len(scopeModels(m))*scopeKeyCount-scopeKeyCount:] {
				if prev, dup := seen[k]; dup && prev != m {
					t.Fatalf("key %q used by scopes %q and %q", k, prev, m)
				}
				seen[k] = m
			}
		}
	})
}

func TestNewRedisStoreRejectsBracedPrefix(t *testing.T) {
	if _, err := NewRedisStore(nil, RedisStoreOptions{}); err == nil {
		t.Error("nil client accepted")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer c.Close()
	if _, err := NewRedisStore(c, RedisStoreOptions{KeyPrefix: "q{x}:"}); err == nil {
		t.Error("prefix with braces accepted")
	}
}
