package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server/config"
)

const netpolicyUsage = `usage: signgate netpolicy --team T (--dev | --config FILE)

Print the bucket-side network control for team T: an S3 bucket policy, the
Azure storage account's network rules, or a GCP VPC Service Controls access
level, holding the CIDRs that the policy data gives the team.
`

// netpolicyCmd prints the bucket-side network control for one team: the
// same CIDRs the policy enforces, written where the storage provider
// enforces them, so that a leaked URL is useless outside the network.
func netpolicyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("netpolicy", flag.ContinueOnError)
	tf := addTeamFlags(fs, "the control")
	if _, err := parseArgs(fs, args, stdout, netpolicyUsage, 0); err != nil {
		return err
	}
	cfg, err := tf.load(fs.Name())
	if err != nil {
		return err
	}
	team := tf.team
	b, err := loadBundle(cfg)
	if err != nil {
		return err
	}
	tn, err := teamNetwork(b.Data, *team)
	if err != nil {
		return err
	}
	cn, ok := cfg.Connectors[tn.connector]
	if !ok {
		return fmt.Errorf("team %s: connector %q is not in the configuration", *team, tn.connector)
	}
	extra := cfg.Network.Teams[*team]
	var doc any
	var note string
	switch cn.Provider {
	case "s3":
		doc, note, err = s3BucketPolicy(*team, cn, tn, extra)
	case "azure":
		doc, note, err = azureNetworkRules(*team, cn, tn, extra)
	case "gcs":
		out, note, err := gcsAccessLevel(cfg.Network.GCPAccessPolicy, *team, tn, extra)
		if err != nil {
			return err
		}
		fmt.Fprint(stderr, note)
		_, err = io.WriteString(stdout, out)
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprint(stderr, note)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

func loadBundle(cfg *config.Config) (*bundleData, error) {
	if cfg.Policy.Source == "service" {
		// The data is on the bundle service; reading the embedded example
		// data instead would print controls for the wrong teams.
		return nil, errors.New("netpolicy reads team data from the embedded policy or a policy directory, not from a bundle service: point a copy of the configuration at the bundle's source directory")
	}
	if cfg.Policy.Source == "directory" {
		b, err := bundles.LoadDir(cfg.Policy.Directory)
		if err != nil {
			return nil, err
		}
		return &bundleData{Data: b.Data}, nil
	}
	b, err := bundles.LoadFS(policies.FS)
	if err != nil {
		return nil, err
	}
	return &bundleData{Data: b.Data}, nil
}

type bundleData struct{ Data map[string]any }

type teamNet struct {
	connector, prefix string
	cidrs             []netip.Prefix
}

func teamNetwork(data map[string]any, team string) (teamNet, error) {
	sg, _ := data["signgate"].(map[string]any)
	teams, _ := sg["teams"].(map[string]any)
	t, ok := teams[team].(map[string]any)
	if !ok {
		return teamNet{}, fmt.Errorf("team %q is not in the policy data", team)
	}
	tn := teamNet{}
	tn.connector, _ = t["connector"].(string)
	tn.prefix, _ = t["prefix"].(string)
	raw, _ := t["cidrs"].([]any)
	for _, c := range raw {
		s, _ := c.(string)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return teamNet{}, fmt.Errorf("team %s: cidr %q: %w", team, s, err)
		}
		tn.cidrs = append(tn.cidrs, p.Masked())
	}
	return tn, nil
}

func cidrStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// isPrivate reports whether p is a range that never reaches a provider's
// public endpoint as a source address: RFC 1918, RFC 4193 (fc00::/7),
// loopback, link-local and shared address space (100.64.0.0/10).
func isPrivate(p netip.Prefix) bool {
	a := p.Addr()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || netip.MustParsePrefix("100.64.0.0/10").Contains(a)
}

// splitCIDRs parts the team's ranges into public and private ones.
func splitCIDRs(tn teamNet) (public, private []netip.Prefix) {
	for _, p := range tn.cidrs {
		if isPrivate(p) {
			private = append(private, p)
		} else {
			public = append(public, p)
		}
	}
	return public, private
}

// netpolicyError says why no control can be printed: printing one would
// lock the team (or everyone) out, or open what the policy closes.
func netpolicyError(team, format string, args ...any) error {
	return fmt.Errorf("netpolicy: team %s: %s; nothing printed", team, fmt.Sprintf(format, args...))
}

// needCIDRs refuses a team without cidrs: the policy lets it in from
// anywhere, so any network control would deny someone the policy allows,
// and one without conditions would deny everyone.
func needCIDRs(team string, tn teamNet) error {
	if len(tn.cidrs) == 0 {
		return netpolicyError(team, "it has no cidrs in the policy data, so the policy allows any network and there is no range to enforce (a control without one would deny everyone)")
	}
	return nil
}

// s3BucketPolicy denies every request to the team's prefix that comes
// neither from the team's public CIDRs nor, through one of its VPC
// endpoints, from its private CIDRs. Private ranges never appear in
// aws:SourceIp (a request from a VPC arrives through an endpoint, and
// aws:SourceIp is then absent): they become aws:VpcSourceIp under
// aws:SourceVpce, and without vpc_endpoints they are refused.
func s3BucketPolicy(team string, cn config.Connector, tn teamNet, extra config.TeamNetwork) (any, string, error) {
	if err := needCIDRs(team, tn); err != nil {
		return nil, "", err
	}
	public, private := splitCIDRs(tn)
	if len(private) > 0 && len(extra.VPCEndpoints) == 0 {
		return nil, "", netpolicyError(team, "%s: private ranges never reach S3 as aws:SourceIp; name the VPC endpoints they come through in network.teams.%s.vpc_endpoints, and they are written as aws:VpcSourceIp with aws:SourceVpce", strings.Join(cidrStrings(private), ", "), team)
	}
	resource := []string{"arn:aws:s3:::" + cn.Bucket + "/" + tn.prefix + "*"}
	statement := func(sid string, cond map[string]any) map[string]any {
		return map[string]any{"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": resource, "Condition": cond}
	}
	// Outside the endpoints: only the public ranges, if any. The
	// conditions of one statement are ANDed.
	outside := map[string]any{}
	if len(public) > 0 {
		outside["NotIpAddress"] = map[string]any{"aws:SourceIp": cidrStrings(public)}
	}
	if len(extra.VPCEndpoints) > 0 {
		outside["StringNotEquals"] = map[string]any{"aws:SourceVpce": extra.VPCEndpoints}
	}
	statements := []any{statement("SigngateDenyOutsideTeamNetwork", outside)}
	if len(extra.VPCEndpoints) > 0 && len(private) > 0 {
		// Through the endpoints: only from the private ranges.
		statements = append(statements, statement("SigngateDenyOutsideTeamVpcRanges", map[string]any{
			"StringEquals": map[string]any{"aws:SourceVpce": extra.VPCEndpoints},
			"NotIpAddress": map[string]any{"aws:VpcSourceIp": cidrStrings(private)},
		}))
	}
	note := "# Apply with: aws s3api put-bucket-policy --bucket " + cn.Bucket + " --policy file://policy.json\n" +
		"# Merge the statements into an existing bucket policy rather than replacing it.\n"
	return map[string]any{"Version": "2012-10-17", "Statement": statements}, note, nil
}

// azureNetworkRules is a storage account networkAcls (network rule set)
// that denies by default and allows the team's public IPv4 ranges and its
// subnets. Private ranges reach the account only through a subnet with a
// service endpoint (azure_subnets), never as an ipRule; IPv6 ranges cannot
// be written as ipRules.
func azureNetworkRules(team string, cn config.Connector, tn teamNet, extra config.TeamNetwork) (any, string, error) {
	if err := needCIDRs(team, tn); err != nil {
		return nil, "", err
	}
	public, private := splitCIDRs(tn)
	if len(private) > 0 && len(extra.AzureSubnets) == 0 {
		return nil, "", netpolicyError(team, "%s: private ranges never reach Azure Storage as a public source address; name the subnets they come from in network.teams.%s.azure_subnets, and they are written as virtualNetworkRules", strings.Join(cidrStrings(private), ", "), team)
	}
	ipRules := []any{}
	for _, p := range public {
		switch {
		case !p.Addr().Is4():
			return nil, "", netpolicyError(team, "%s: Azure storage ipRules take IPv4 ranges only", p)
		case p.Bits() >= 31:
			// Azure takes /31 and /32 only as single addresses.
			ipRules = append(ipRules, map[string]any{"value": p.Addr().String(), "action": "Allow"})
		default:
			ipRules = append(ipRules, map[string]any{"value": p.String(), "action": "Allow"})
		}
	}
	vnet := []any{}
	for _, id := range extra.AzureSubnets {
		vnet = append(vnet, map[string]any{"id": id, "action": "Allow"})
	}
	note := "# Apply to the storage account of container " + cn.Container + " (account " + cn.Credentials.AccountName + "):\n" +
		"#   az storage account update --name " + cn.Credentials.AccountName + " --default-action Deny ... (or ARM networkAcls)\n" +
		"# Azure network rules are per storage account, not per container: every container of the account is covered.\n"
	if len(private) > 0 {
		note += "# " + strings.Join(cidrStrings(private), ", ") + " are allowed through the subnets of virtualNetworkRules.\n"
	}
	return map[string]any{
		"defaultAction":       "Deny",
		"bypass":              "None",
		"ipRules":             ipRules,
		"virtualNetworkRules": vnet,
	}, note, nil
}

// gcsAccessLevel is a VPC Service Controls basic access level: the team's
// public CIDRs as ipSubnetworks, and its private ones, which VPC Service
// Controls only see inside a VPC network, as vpcNetworkSources of the
// networks named in gcp_vpc_networks. Without those networks private
// ranges are refused.
func gcsAccessLevel(policy, team string, tn teamNet, extra config.TeamNetwork) (string, string, error) {
	if err := needCIDRs(team, tn); err != nil {
		return "", "", err
	}
	public, private := splitCIDRs(tn)
	if len(private) > 0 && len(extra.GCPVPCNetworks) == 0 {
		return "", "", netpolicyError(team, "%s: VPC Service Controls see private ranges only inside a VPC network; name the networks in network.teams.%s.gcp_vpc_networks, and they are written as vpcNetworkSources", strings.Join(cidrStrings(private), ", "), team)
	}
	if policy == "" {
		policy = "ACCESS_POLICY_ID"
	}
	name := "signgate_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, team)
	var b strings.Builder
	fmt.Fprintf(&b, "name: accessPolicies/%s/accessLevels/%s\n", policy, name)
	fmt.Fprintf(&b, "title: signgate %s\n", team)
	b.WriteString("basic:\n")
	if len(public) > 0 && len(private) > 0 {
		b.WriteString("  combiningFunction: OR\n") // either network path is enough
	}
	b.WriteString("  conditions:\n")
	if len(public) > 0 {
		b.WriteString("  - ipSubnetworks:\n")
		cidrs := cidrStrings(public)
		slices.Sort(cidrs)
		for _, c := range cidrs {
			fmt.Fprintf(&b, "    - %s\n", c)
		}
	}
	if len(private) > 0 {
		b.WriteString("  - vpcNetworkSources:\n")
		cidrs := cidrStrings(private)
		slices.Sort(cidrs)
		for _, n := range extra.GCPVPCNetworks {
			fmt.Fprintf(&b, "    - vpcSubnetwork:\n        network: %s\n        vpcIpSubnetworks:\n", n)
			for _, c := range cidrs {
				fmt.Fprintf(&b, "        - %s\n", c)
			}
		}
	}
	note := "# Create with: gcloud access-context-manager levels create " + name + " --policy=" + policy + " --basic-level-spec=<conditions part>\n" +
		"# then add the level to the service perimeter around the bucket's project.\n"
	return b.String(), note, nil
}
