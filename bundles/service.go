package bundles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/download"
	"github.com/open-policy-agent/opa/v1/plugins"
	bundleplugin "github.com/open-policy-agent/opa/v1/plugins/bundle"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/signgate/signgate/authz"
)

// Service keeps an engine on the bundle that an OPA bundle service serves.
// It is configured in OPA's own format (services, bundles and keys),
// parsed by OPA's plugin manager and bundle plugin, and downloads with
// OPA's downloader: polling or long polling, ETags, credentials, TLS and
// signature verification are OPA's. What it adds is signgate's rule for
// activation: every downloaded revision is compiled and its decision
// probed before it is swapped in, and a bundle that fails any step never
// replaces the active revision.
//
// A file:// resource is a bundle archive on disk, read with OPA's bundle
// reader (file.go).
//
// An OCI registry (a service of type "oci", as OPA configures it) is read
// with OPA's OCI downloader, through the same activation rule; its blobs are
// kept in a directory of its own under the temporary directory ($TMPDIR),
// removed by Stop.
//
// OPA's bundle plugin itself is not used because it activates a bundle
// into OPA's store before anyone can refuse it, and tells its listeners
// the status but not the bundle.
type Service struct {
	e      *authz.Engine
	mgr    *plugins.Manager
	ownMgr bool // Stop stops mgr: NewService made it
	dl     loader
	oci    string // the OCI downloader's blob store; empty for HTTP
	vc     *bundle.VerificationConfig
	name   string
	source string
	once   sync.Once // Start
	start  bool      // set by Start, read by Stop
}

// loader is what OPA's HTTP and OCI downloaders have in common.
type loader interface {
	Start(context.Context)
	Stop(context.Context)
}

// allowedOPAConfig are the sections of OPA's configuration a Service reads.
var allowedOPAConfig = []string{"services", "bundles", "keys"}

// NewService parses opaConfig, OPA's configuration as JSON with its
// services, bundles and keys sections, which must name exactly one bundle.
// WithVerification overrides the bundle's signing section; otherwise keys
// without a signing section still require a signature, unlike OPA, which
// then accepts unsigned bundles. Call Start to begin downloading.
func NewService(e *authz.Engine, opaConfig []byte, opts ...LoadOption) (*Service, error) {
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(opaConfig, &sections); err != nil {
		return nil, fmt.Errorf("bundles: opa config: %w", err)
	}
	for k := range sections {
		if !slices.Contains(allowedOPAConfig, k) {
			return nil, fmt.Errorf("bundles: opa config: %q is not used; signgate reads only %s", k, strings.Join(allowedOPAConfig, ", "))
		}
	}
	c := newLoadConfig(opts)
	if c.mgr != nil {
		return newService(e, c.mgr, c)
	}
	ol := NewOPALogger(e.Logger().With("component", "opa"))
	mgr, err := plugins.New(opaConfig, "signgate", inmem.New(), plugins.Logger(ol), plugins.ConsoleLogger(ol))
	if err != nil {
		return nil, fmt.Errorf("bundles: opa config: %w", err)
	}
	s, err := newService(e, mgr, c)
	if err != nil {
		mgr.Stop(context.Background())
		return nil, err
	}
	s.ownMgr = true
	return s, nil
}

// WithPluginManager makes NewService use mgr, the process's one OPA plugin
// manager, for the services, bundles and keys of its configuration instead
// of a manager of its own; mgr must have been made from a configuration
// that holds the opaConfig given to NewService. Stop leaves mgr to its
// owner.
func WithPluginManager(mgr *plugins.Manager) LoadOption {
	return func(c *loadConfig) { c.mgr = mgr }
}

func newService(e *authz.Engine, mgr *plugins.Manager, c loadConfig) (*Service, error) {
	if mgr.Config.Bundles == nil {
		return nil, errors.New("bundles: opa config: no bundles section")
	}
	periodic := plugins.TriggerPeriodic // nobody would trigger a manual download
	parsed, err := bundleplugin.NewConfigBuilder().
		WithBytes(mgr.Config.Bundles).
		WithServices(mgr.Services()).
		WithKeyConfigs(mgr.PublicKeys()).
		WithTriggerMode(&periodic).
		Parse()
	if err != nil {
		return nil, fmt.Errorf("bundles: opa config: bundles: %w", err)
	}
	if len(parsed.Bundles) != 1 {
		return nil, fmt.Errorf("bundles: opa config: bundles: want exactly one bundle, got %d", len(parsed.Bundles))
	}
	var name string
	var src *bundleplugin.Source
	for n, b := range parsed.Bundles {
		name, src = n, b
	}
	parserOpts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	vc := src.Signing
	switch {
	case c.verify != nil:
		vc = c.verify
	case vc != nil && !vc.SignatureRequired():
		// Keys without a signing section: OPA would accept an unsigned
		// bundle. A configured key means signatures are required.
		vc = bundle.NewVerificationConfig(vc.PublicKeys, "", "", nil)
	}
	s := &Service{e: e, mgr: mgr, vc: vc, name: name}
	if u, err := url.Parse(src.Resource); err == nil && u.Scheme == "file" {
		// A bundle archive on disk, as OPA reads file:// resources.
		every := time.Minute
		if p := src.Config.Polling.MinDelaySeconds; p != nil && *p > 0 {
			every = time.Duration(*p) * time.Second
		}
		fl, err := newFileLoader(u.Path, every, vc, src.SizeLimitBytes, parserOpts, s.update)
		if err != nil {
			return nil, err
		}
		s.dl, s.source = fl, "file:"+u.Path
		return s, nil
	}
	client := mgr.Client(src.Service)
	s.source = "service:" + strings.TrimRight(client.Config().URL, "/") + "/" + strings.TrimLeft(src.Resource, "/")
	if strings.EqualFold(client.Config().Type, "oci") {
		// OPA's NewOCI panics when it cannot make its own store: make it here.
		dir, err := os.MkdirTemp("", "signgate-oci-*")
		if err != nil {
			return nil, fmt.Errorf("bundles: oci store: %w", err)
		}
		s.oci, s.source = dir, "oci:"+src.Resource
		s.dl = download.NewOCI(src.Config, client, src.Resource, dir).
			WithCallback(s.update).
			WithBundleVerificationConfig(vc).
			WithSizeLimitBytes(src.SizeLimitBytes).
			WithBundleParserOpts(parserOpts)
		return s, nil
	}
	s.dl = download.New(src.Config, client, src.Resource).
		WithCallback(s.update).
		WithBundleVerificationConfig(vc).
		WithSizeLimitBytes(src.SizeLimitBytes).
		WithBundleName(name).
		WithBundleParserOpts(parserOpts)
	return s, nil
}

// Source names the bundle's URL as revisions and reports show it.
func (s *Service) Source() string { return s.source }

// Start begins downloading in the background; the first download starts
// at once. Revisions, refusals and checks are reported through the engine.
// Call it once.
func (s *Service) Start(ctx context.Context) {
	s.once.Do(func() {
		s.start = true
		s.dl.Start(ctx)
	})
}

// Stop stops downloading and waits for a download in progress to end. Call
// it once, after Start or instead of it, never at the same time.
func (s *Service) Stop(ctx context.Context) {
	s.once.Do(func() {}) // a later Start does nothing
	if s.start {
		s.dl.Stop(ctx)
	}
	if s.ownMgr {
		s.mgr.Stop(ctx)
	}
	if s.oci != "" {
		_ = os.RemoveAll(s.oci)
	}
}

// update is the downloader's callback: an error, a new bundle, or nothing
// new (304 Not Modified, or a long poll that timed out). Returning the
// activation error makes the downloader back off; it keeps the refused
// bundle's ETag, so the same bytes are not fetched again.
func (s *Service) update(ctx context.Context, u download.Update) error {
	switch {
	case u.Error != nil:
		s.e.Refuse(s.source, readStage(u.Error), fmt.Errorf("bundles: bundle %s: %w", s.name, u.Error))
		return nil // the downloader backs off on the download error itself
	case u.Bundle == nil:
		s.e.Checked(s.source)
		return nil
	}
	return s.e.ActivateSigned(ctx, u.Bundle, s.source, authz.SigningKeyID(u.Bundle, s.vc))
}
