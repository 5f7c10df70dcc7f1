package auth

import (
	"bytes"
	"errors"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	key, hash, err := NewKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyring([]Entry{{Consumer: "team-a", SHA256: hash}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		want    string
		wantErr error
	}{
		{"valid", key, "team-a", nil},
		{"empty", "", "", ErrNoKey},
		{"wrong", key + "x", "", ErrUnknownKey},
		{"hash is not the key", hash, "", ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ring.Authenticate(tt.key)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Authenticate = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewKeyringRejectsBadAndDuplicateHashes(t *testing.T) {
	h := HashKey("k")
	_, err := NewKeyring([]Entry{{"a", "zz"}, {"b", h}, {"c", h}})
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{`consumer "a"`, `consumer "c"`} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestExtractKey(t *testing.T) {
	tests := []struct{ authz, xkey, want string }{
		{"Bearer sk-1", "", "sk-1"},
		{"bearer  sk-1 ", "", "sk-1"},
		{"", "sk-2", "sk-2"},
		{"Basic abc", "sk-2", "sk-2"},
		{"Bearer sk-1", "sk-2", "sk-1"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := ExtractKey(tt.authz, tt.xkey); got != tt.want {
			t.Errorf("ExtractKey(%q,%q) = %q, want %q", tt.authz, tt.xkey, got, tt.want)
		}
	}
}

func TestNewKeyIsRandomAndPrefixed(t *testing.T) {
	k1, h1, _ := NewKey(nil)
	k2, _, _ := NewKey(nil)
	if k1 == k2 || len(k1) < 40 || k1[:len(KeyPrefix)] != KeyPrefix || HashKey(k1) != h1 {
		t.Fatalf("bad keys %q %q", k1, k2)
	}
}
