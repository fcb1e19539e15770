// Package azblob signs service SAS URLs for blobs in one Azure Storage
// container, or in Azurite. It owns the URL layout and the mapping from
// operations to SAS permissions; the Azure SDK builds and signs the SAS.
package azblob

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/signgate/signgate/signer"
)

// Config binds a Signer to one container.
type Config struct {
	Container string
	// Endpoint is the blob service URL, account path included for Azurite,
	// e.g. "http://127.0.0.1:10000/devstoreaccount1". Empty means
	// https://<AccountName>.blob.core.windows.net.
	Endpoint    string
	AccountName string
	AccountKey  string // base64, as the portal shows it; empty with TokenCredential

	// TokenCredential, when set, makes the signer sign user-delegation SAS
	// with a key it obtains through Microsoft Entra ID with this credential
	// (azidentity), instead of with the account key; AccountKey must then
	// be empty. The identity needs the Storage Blob Delegator role and a
	// data role that covers what the SAS allows.
	TokenCredential azcore.TokenCredential
	// DelegationKeyLifetime is how long each user delegation key is asked
	// for; zero, or more than MaxDelegationKeyLifetime, means that maximum.
	// A key is renewed at half its life.
	DelegationKeyLifetime time.Duration
	// ClientOptions configure the client that asks for delegation keys
	// (transport, retries); nil for the defaults.
	ClientOptions *service.ClientOptions
}

// Option changes how a Signer is built.
type Option func(*Signer)

// WithClock sets the clock that expiry times are computed from; the
// default is time.Now, which a nil c keeps.
func WithClock(c signer.Clock) Option {
	return func(s *Signer) {
		if c != nil {
			s.now = c
		}
	}
}

// Signer signs URLs for one Azure Storage container.
type Signer struct {
	container string
	base      string // endpoint + "/" + escaped container
	protocol  sas.Protocol
	cred      *service.SharedKeyCredential // shared-key mode
	keys      *delegationKeys              // user-delegation mode
	now       signer.Clock
}

var _ signer.Signer = (*Signer)(nil)
var _ signer.IPBinder = (*Signer)(nil)

// permissions are the SAS permissions of each operation: a write may
// create the blob or overwrite it.
var permissions = map[signer.Operation]*sas.BlobPermissions{
	signer.OpRead:   {Read: true},
	signer.OpWrite:  {Create: true, Write: true},
	signer.OpDelete: {Delete: true},
}

// New checks cfg and returns a Signer for its container.
func New(cfg Config, opts ...Option) (*Signer, error) {
	switch {
	case cfg.Container == "":
		return nil, errors.New("azblob: config: container is required")
	case strings.Trim(cfg.Container, "abcdefghijklmnopqrstuvwxyz0123456789-$") != "":
		return nil, fmt.Errorf("azblob: config: container %q: want lower-case letters, digits and '-'", cfg.Container)
	case cfg.AccountName == "":
		return nil, errors.New("azblob: config: account name is required")
	case cfg.AccountKey == "" && cfg.TokenCredential == nil:
		return nil, errors.New("azblob: config: an account key or a token credential is required")
	case cfg.AccountKey != "" && cfg.TokenCredential != nil:
		return nil, errors.New("azblob: config: an account key and a token credential: set one")
	}
	var cred *service.SharedKeyCredential
	if cfg.AccountKey != "" {
		var err error
		if cred, err = service.NewSharedKeyCredential(cfg.AccountName, cfg.AccountKey); err != nil {
			return nil, fmt.Errorf("azblob: config: account key: %w", err)
		}
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://" + cfg.AccountName + ".blob.core.windows.net"
	}
	u, err := signer.ParseEndpoint(endpoint, true)
	if err != nil {
		return nil, fmt.Errorf("azblob: config: endpoint %w", err)
	}
	s := &Signer{
		container: cfg.Container,
		base:      strings.TrimSuffix(u.String(), "/") + "/" + signer.EscapeKey(cfg.Container),
		// A SAS that allows http would let a key ride in clear text; only
		// an emulator on http gets one.
		protocol: sas.ProtocolHTTPS,
		cred:     cred,
		now:      time.Now,
	}
	if u.Scheme == "http" {
		s.protocol = sas.ProtocolHTTPSandHTTP
	}
	if cfg.TokenCredential != nil {
		// The SDK names the account after the host's first label, as on
		// <account>.blob.core.windows.net; an IP-style endpoint would sign
		// for another account than the one the service checks.
		if first, _, _ := strings.Cut(u.Hostname(), "."); first != cfg.AccountName {
			return nil, fmt.Errorf("azblob: config: endpoint %q: user delegation needs the account name as the host's first label", endpoint)
		}
		keys, err := newDelegationKeys(strings.TrimSuffix(u.String(), "/"), cfg.TokenCredential, cfg.DelegationKeyLifetime, cfg.ClientOptions)
		if err != nil {
			return nil, err
		}
		s.keys = keys
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Provider reports "azure".
func (s *Signer) Provider() string { return "azure" }

// Bucket reports the container the signer is bound to.
func (s *Signer) Bucket() string { return s.container }

// Sign returns a blob service SAS URL for g that expires TTL after the
// clock's time truncated to the second (se has whole seconds).
//
// The SAS has no start time (st): it is valid as soon as it is made, and a
// start time of "now" would be refused by a service whose clock runs a
// little behind ours.
func (s *Signer) Sign(ctx context.Context, g signer.Grant) (signer.Signed, error) {
	secs, err := signer.Prepare(ctx, g)
	if err != nil {
		return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w", g.Key, err)
	}
	switch {
	case g.ContentMD5 != "":
		// Azure checks a Content-MD5 the client sends, but a SAS cannot
		// oblige the client to send one.
		return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w: a service SAS cannot bind a request Content-MD5", g.Key, signer.ErrUnsupported)
	case g.ContentType != "":
		// rsct only overrides the Content-Type of a read's response; a
		// shared-key service SAS has no way to bind a request header.
		return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w: a service SAS cannot bind a request Content-Type", g.Key, signer.ErrUnsupported)
	case strings.Contains(g.Key, `\`):
		// The SDK signs '\' in a blob name as '/', as the service reads
		// it: the URL would name another blob than the grant.
		return signer.Signed{}, fmt.Errorf(`azblob: sign %q: %w: Azure reads '\' in a blob name as '/'`, g.Key, signer.ErrUnsupported)
	}
	var ipRange sas.IPRange
	if g.IPRange.IsValid() {
		if !s.BindsIPRange(g.IPRange) {
			return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w: sip carries IPv4 ranges only", g.Key, signer.ErrUnsupported)
		}
		ipRange = sipRange(g.IPRange)
	}
	at := s.now().UTC().Truncate(time.Second)
	values := sas.BlobSignatureValues{
		Protocol:      s.protocol,
		Permissions:   permissions[g.Operation].String(),
		ContainerName: s.container,
		BlobName:      g.Key,
		IPRange:       ipRange,
	}
	var (
		q         sas.QueryParameters
		clampedBy string
	)
	if s.keys != nil {
		udc, keyExpires, kerr := s.keys.credential(ctx, at)
		if kerr != nil {
			return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w", g.Key, kerr)
		}
		// A user-delegation SAS dies with its key.
		secs, clampedBy = signer.ClampToCredential(at, secs, true, keyExpires)
		if secs < 1 {
			return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w: the delegation key expires at %s", g.Key, signer.ErrCredentialExpiring, keyExpires.Format(time.RFC3339))
		}
		values.ExpiryTime = at.Add(time.Duration(secs) * time.Second)
		q, err = values.SignWithUserDelegation(udc)
	} else {
		values.ExpiryTime = at.Add(time.Duration(secs) * time.Second)
		q, err = values.SignWithSharedKey(s.cred)
	}
	expiry := values.ExpiryTime
	if err != nil {
		return signer.Signed{}, fmt.Errorf("azblob: sign %q: %w", g.Key, err)
	}
	headers := map[string]string{}
	if g.Operation == signer.OpWrite {
		// Put Blob needs the blob type; a SAS URL cannot carry it.
		headers["x-ms-blob-type"] = "BlockBlob"
	}
	query := q.Encode()
	if g.DecisionID != "" {
		// A service SAS signs a fixed list of fields; the service ignores
		// other parameters and logs them. The decision id is for the join
		// with the storage logs only: it is not signed (docs/audit.md).
		query += "&" + signer.DecisionParam + "=" + g.DecisionID
	}
	return signer.Signed{
		URL:       s.base + "/" + signer.EscapeKey(g.Key) + "?" + query,
		Method:    g.Operation.Method(),
		Headers:   headers,
		ExpiresAt: expiry,
		ClampedBy: clampedBy,
	}, nil
}

// BindsIPRange reports whether p fits into a SAS sip field: IPv4 only.
func (s *Signer) BindsIPRange(p netip.Prefix) bool { return p.IsValid() && p.Addr().Is4() }

// sipRange turns a CIDR into sip's first-last address form.
func sipRange(p netip.Prefix) sas.IPRange {
	p = p.Masked()
	first := p.Addr()
	last := first.As4()
	hostBits := 32 - p.Bits()
	for i := 3; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		last[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	if p.Bits() == 32 {
		return sas.IPRange{Start: net.IP(first.AsSlice())}
	}
	return sas.IPRange{Start: net.IP(first.AsSlice()), End: net.IP(netip.AddrFrom4(last).AsSlice())}
}
