package server

import (
	"testing"

	"github.com/google/uuid"
)

// TestNewIDIsARandomUUID: every id parses as a version 4 UUID of the RFC
// 4122 variant, in the canonical lower-case form, and none repeats.
func TestNewIDIsARandomUUID(t *testing.T) {
	seen := map[string]bool{}
	const n = 5000 // many more than one random block holds
	for range n {
		id := newID()
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("%q is version %d, variant %v", id, u.Version(), u.Variant())
		}
		if seen[id] {
			t.Fatalf("%q came twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d ids, want %d", len(seen), n)
	}
}
