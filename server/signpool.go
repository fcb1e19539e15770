package server

import "github.com/signgate/signgate/signer"

// remoteSignConcurrency is the most calls any connector's signer serves at
// once when each is a network call (GCS signBlob): a batch runs at least
// that many workers, so that a thousand URLs do not wait in line behind the
// CPU count. The signer bounds its own calls.
func (s *Server) remoteSignConcurrency() int {
	n := 0
	for _, sg := range s.signers {
		if r, ok := sg.(signer.RemoteSigner); ok {
			n = max(n, r.SignConcurrency())
		}
	}
	return n
}
