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
	cfgPath := fs.String("config", "", "path to the YAML configuration")
	dev := fs.Bool("dev", false, "use the dev configuration and embedded policy data")
	team := fs.String("team", "", "the team to write the control for")
	if _, err := parseArgs(fs, args, stdout, netpolicyUsage, 0); err != nil {
		return err
	}
	if *team == "" || *dev == (*cfgPath != "") {
		return usagef(fs.Name(), "netpolicy needs --team T and exactly one of --dev and --config FILE")
	}
	var cfg *config.Config
	var err error
	if *dev {
		cfg, _, err = devConfig()
	} else {
		cfg, err = config.Load(*cfgPath)
	}
	if err != nil {
		return err
	}
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
		doc, note = s3BucketPolicy(cn, tn, extra)
	case "azure":
		doc, note = azureNetworkRules(cn, tn, extra)
	case "gcs":
		out, note, err := gcsAccessLevel(cfg.Network.GCPAccessPolicy, *team, tn)
		if err != nil {
			return err
		}
		fmt.Fprint(stderr, note)
		_, err = io.WriteString(stdout, out)
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

// s3BucketPolicy denies every request to the team's prefix that comes
// neither from the team's CIDRs nor through one of its VPC endpoints. The
// conditions of one statement are ANDed, so either network path is enough.
func s3BucketPolicy(cn config.Connector, tn teamNet, extra config.TeamNetwork) (any, string) {
	cond := map[string]any{}
	if len(tn.cidrs) > 0 {
		cond["NotIpAddress"] = map[string]any{"aws:SourceIp": cidrStrings(tn.cidrs)}
	}
	if len(extra.VPCEndpoints) > 0 {
		cond["StringNotEquals"] = map[string]any{"aws:SourceVpce": extra.VPCEndpoints}
	}
	note := "# Apply with: aws s3api put-bucket-policy --bucket " + cn.Bucket + " --policy file://policy.json\n" +
		"# Merge the statement into an existing bucket policy rather than replacing it.\n"
	if len(cond) == 0 {
		note += "# WARNING: the team has no cidrs and no vpc_endpoints: no network restriction to write.\n"
	}
	return map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "SigngateDenyOutsideTeamNetwork",
			"Effect":    "Deny",
			"Principal": "*",
			"Action":    "s3:*",
			"Resource":  []string{"arn:aws:s3:::" + cn.Bucket + "/" + tn.prefix + "*"},
			"Condition": cond,
		}},
	}, note
}

// azureNetworkRules is a storage account networkAcls (network rule set)
// that denies by default and allows the team's public ranges and subnets.
func azureNetworkRules(cn config.Connector, tn teamNet, extra config.TeamNetwork) (any, string) {
	var ipRules []any
	var skipped []string
	for _, p := range tn.cidrs {
		switch {
		case !p.Addr().Is4():
			skipped = append(skipped, p.String()+" (IPv6 is not supported in ipRules)")
		case p.Addr().IsPrivate() || p.Addr().IsLoopback():
			skipped = append(skipped, p.String()+" (private ranges reach Azure through azure_subnets, not ipRules)")
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
	if ipRules == nil {
		ipRules = []any{}
	}
	note := "# Apply to the storage account of container " + cn.Container + " (account " + cn.Credentials.AccountName + "):\n" +
		"#   az storage account update --name " + cn.Credentials.AccountName + " --default-action Deny ... (or ARM networkAcls)\n" +
		"# Azure network rules are per storage account, not per container: every container of the account is covered.\n"
	for _, s := range skipped {
		note += "# skipped " + s + "\n"
	}
	return map[string]any{
		"defaultAction":       "Deny",
		"bypass":              "None",
		"ipRules":             ipRules,
		"virtualNetworkRules": vnet,
	}, note
}

// gcsAccessLevel is a VPC Service Controls basic access level listing the
// team's CIDRs; a service perimeter around the bucket's project uses it.
func gcsAccessLevel(policy, team string, tn teamNet) (string, string, error) {
	if policy == "" {
		policy = "ACCESS_POLICY_ID"
	}
	if len(tn.cidrs) == 0 {
		return "", "", fmt.Errorf("team %s has no cidrs: an access level needs at least one", team)
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
	b.WriteString("basic:\n  conditions:\n  - ipSubnetworks:\n")
	cidrs := cidrStrings(tn.cidrs)
	slices.Sort(cidrs)
	for _, c := range cidrs {
		fmt.Fprintf(&b, "    - %s\n", c)
	}
	note := "# Create with: gcloud access-context-manager levels create " + name + " --policy=" + policy + " --basic-level-spec=<conditions part>\n" +
		"# then add the level to the service perimeter around the bucket's project. VPC Service Controls only see\n" +
		"# public source ranges and VPC networks: private RFC 1918 ranges must come through a VPC network in the perimeter.\n"
	return b.String(), note, nil
}
