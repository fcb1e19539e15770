package signer

import "errors"

// ErrUnavailable is returned when the service that signs or that issues the
// signing credential (IAM signBlob, Entra ID, STS) fails, is too slow or
// answers with something that is not a signature or a credential: no URL
// is made, and the caller may try again later.
var ErrUnavailable = errors.New("signer: signing service unavailable")

// RemoteSigner is implemented by signers whose Sign is a network call
// (GCS through IAM signBlob). SignConcurrency is how many calls it serves
// at once, so that a batch runs that many at a time; 0 means local.
type RemoteSigner interface {
	SignConcurrency() int
}
