package azblob

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/signgate/signgate/signer"
)

var _ signer.Uploader = (*Signer)(nil)

// maxBlockSize is Azure's largest block (Put Block, API 2019-12-12 on).
const maxBlockSize = 4000 << 20

// StartUpload plans a block blob upload: one SAS with create and write
// permissions on the one blob (the same SAS that a write URL carries, so it
// can touch no other blob), the blocks with their ids and byte ranges, and
// the Put Block List call that commits them. Nothing is created on the
// service until the client puts a block.
//
// Block ids are base64 of 12 bytes, a random 8-byte nonce (the upload id,
// so two uploads to one blob do not mix their blocks) and the part number,
// so that they all have the same length, as Azure requires.
//
// A SAS cannot bind a block's size, the block list, or the blob's content
// type: Azure enforces no constraint of this flow (see Enforces), and a
// grant that asks for a content type is refused with signer.ErrUnsupported.
func (s *Signer) StartUpload(ctx context.Context, g signer.UploadGrant) (signer.Upload, error) {
	if err := g.Validate(); err != nil {
		return signer.Upload{}, fmt.Errorf("azblob: upload %q: %w", g.Key, err)
	}
	parts, partSize, err := signer.PlanParts(g.Size, g.PartSize)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("azblob: upload %q: %w", g.Key, err)
	}
	if partSize > maxBlockSize {
		return signer.Upload{}, fmt.Errorf("azblob: upload %q: %w: part_size %d exceeds Azure's block limit of %d bytes (4000 MiB)", g.Key, signer.ErrInvalidPlan, partSize, maxBlockSize)
	}
	if g.ContentType != "" {
		return signer.Upload{}, fmt.Errorf("azblob: upload %q: %w: a service SAS cannot bind the blob's content type", g.Key, signer.ErrUnsupported)
	}
	sas, err := s.Sign(ctx, signer.Grant{Key: g.Key, Operation: signer.OpWrite, TTL: g.TTL, DecisionID: g.DecisionID})
	if err != nil {
		return signer.Upload{}, err
	}
	blobURL, sasQuery, _ := strings.Cut(sas.URL, "?")
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return signer.Upload{}, fmt.Errorf("azblob: upload %q: block id nonce: %w", g.Key, err)
	}
	var list strings.Builder
	list.Grow(64 + len(parts)*40)
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for i := range parts {
		p := &parts[i]
		p.BlockID = blockID(nonce, p.Number)
		p.URL = blobURL + "?comp=block&blockid=" + url.QueryEscape(p.BlockID) + "&" + sasQuery
		p.Method, p.Headers = "PUT", map[string]string{}
		list.WriteString("<Latest>" + p.BlockID + "</Latest>")
	}
	list.WriteString("</BlockList>")
	return signer.Upload{
		Flow:     signer.FlowAzureBlocks,
		UploadID: hex.EncodeToString(nonce[:]),
		PartSize: partSize,
		Parts:    parts,
		Complete: &signer.Call{
			URL:     blobURL + "?comp=blocklist&" + sasQuery,
			Method:  "PUT",
			Headers: map[string]string{},
			Body:    list.String(),
		},
		ExpiresAt: sas.ExpiresAt,
		ClampedBy: sas.ClampedBy,
	}, nil
}

func blockID(nonce [8]byte, n int) string {
	var b [12]byte
	copy(b[:], nonce[:])
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	return base64.StdEncoding.EncodeToString(b[:])
}
