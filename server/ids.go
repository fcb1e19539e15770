package server

import (
	"crypto/rand"
	"sync"

	"github.com/google/uuid"
)

// randomBlock is crypto/rand output that newID hands out 16 bytes at a
// time: one read per 32 ids instead of one read, and one allocation, per
// id. Bytes handed out are cleared.
type randomBlock struct {
	b   [512]byte
	off int
}

var randomBlocks = sync.Pool{New: func() any { return &randomBlock{off: 512} }}

// newID is a random (version 4) UUID in its text form, as
// uuid.NewString makes it: request and decision ids.
func newID() string {
	rb := randomBlocks.Get().(*randomBlock)
	if rb.off+16 > len(rb.b) {
		_, _ = rand.Read(rb.b[:]) // never fails: crypto/rand crashes the program instead
		rb.off = 0
	}
	var u uuid.UUID
	copy(u[:], rb.b[rb.off:rb.off+16])
	clear(rb.b[rb.off : rb.off+16])
	rb.off += 16
	randomBlocks.Put(rb)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant RFC 4122
	return u.String()
}
