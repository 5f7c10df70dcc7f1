// Package auth maps client API keys to consumers. Keys are never stored: the
// configuration holds their SHA-256 hashes, and a presented key is hashed and
// looked up. Raw keys never leave this package except as the caller's input.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KeyPrefix marks keys minted by NewKey so they are recognisable in secret scanners.
const KeyPrefix = "sk-gw-"

// ErrNoKey means the request carried no API key at all.
var ErrNoKey = errors.New("no API key provided")

// ErrUnknownKey means the key matches no consumer.
var ErrUnknownKey = errors.New("incorrect API key provided")

// Keyring resolves API keys to consumer ids. It is immutable; a config reload
// builds a new one.
type Keyring struct {
	byHash map[[sha256.Size]byte]keyEntry
}

type keyEntry struct {
	hash     [sha256.Size]byte
	consumer string
}

// Entry is one configured key hash and the consumer it belongs to.
type Entry struct {
	Consumer string
	// SHA256 is the hex-encoded SHA-256 of the key.
	SHA256 string
}

// NewKeyring builds a keyring, rejecting malformed or duplicate hashes.
func NewKeyring(entries []Entry) (*Keyring, error) {
	k := &Keyring{byHash: make(map[[sha256.Size]byte]keyEntry, len(entries))}
	var errs []error
	for _, e := range entries {
		h, err := ParseHash(e.SHA256)
		if err != nil {
			errs = append(errs, fmt.Errorf("consumer %q: %w", e.Consumer, err))
			continue
		}
		if other, dup := k.byHash[h]; dup {
			errs = append(errs, fmt.Errorf("consumer %q: key hash already belongs to consumer %q", e.Consumer, other.consumer))
			continue
		}
		k.byHash[h] = keyEntry{hash: h, consumer: e.Consumer}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k, nil
}

// ParseHash decodes a hex SHA-256 key hash.
func ParseHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s), "sha256:"))
	if err != nil || len(b) != sha256.Size {
		return h, fmt.Errorf("key hash must be 64 hex characters (SHA-256)")
	}
	copy(h[:], b)
	return h, nil
}

// Authenticate returns the consumer owning key. The map is indexed by the key's
// hash, so lookup timing depends only on a digest an attacker cannot steer; the
// stored hash is then compared in constant time, so no byte-by-byte comparison of
// secret material ever happens.
func (k *Keyring) Authenticate(key string) (string, error) {
	if key == "" {
		return "", ErrNoKey
	}
	h := sha256.Sum256([]byte(key))
	e, ok := k.byHash[h]
	if !ok || subtle.ConstantTimeCompare(e.hash[:], h[:]) != 1 {
		return "", ErrUnknownKey
	}
	return e.consumer, nil
}

// ExtractKey finds the API key in the request headers: "Authorization: Bearer <key>"
// first (what OpenAI SDKs send), then "x-api-key".
func ExtractKey(authorization, xAPIKey string) string {
	if authorization != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(token)
		}
	}
	return strings.TrimSpace(xAPIKey)
}

// HashKey returns the hex SHA-256 of key, the form stored in configuration.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// NewKey mints a random key (32 bytes of entropy) and its hash.
func NewKey(random io.Reader) (key, hash string, err error) {
	var b [32]byte
	if random == nil {
		random = rand.Reader
	}
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", "", fmt.Errorf("read random bytes: %w", err)
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, HashKey(key), nil
}
