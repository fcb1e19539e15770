package config

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// GCSKeyless reports whether a GCS connector signs through signBlob.
func (cr Credentials) GCSKeyless() bool {
	return cr.IAMSignBlob || cr.ImpersonateServiceAccount != ""
}

var (
	// roleARN leaves the bound on the role's path and name to
	// validRoleARN: a {1,512} repetition here took 494 KB to compile at
	// start-up and kept about 150 KB once used, for the process's life.
	roleARN     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalID  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// maxRoleName is IAM's limit on a role's path and name together, the part
// of its ARN after ":role/".
const maxRoleName = 512

// validRoleARN reports whether s is an IAM role's ARN. The characters
// roleARN accepts are ASCII, so bytes count them.
func validRoleARN(s string) bool {
	_, name, _ := strings.Cut(s, ":role/")
	return len(name) <= maxRoleName && roleARN.MatchString(s)
}

func (cr Credentials) validateGCS(p string, bad func(path, format string, args ...any)) {
	k := cr
	switch {
	case cr.ServiceAccountFile == "" && !k.GCSKeyless():
		bad(p, "set service_account_file, or iam_sign_blob or impersonate_service_account to sign through IAM without a key")
	case cr.ServiceAccountFile != "" && k.GCSKeyless():
		bad(p, "service_account_file signs with a key; iam_sign_blob and impersonate_service_account sign without one: set one way")
	}
	if sa := k.ImpersonateServiceAccount; sa != "" {
		if a, err := mail.ParseAddress(sa); err != nil || a.Address != sa {
			bad(p+".impersonate_service_account", "want a service account email, got %q", sa)
		}
	}
	if k.SignTimeout.Duration < 0 || k.SignTimeout.Duration > time.Minute {
		bad(p+".sign_timeout", "want a duration from 0s (the default, 5s) to 1m, got %s", k.SignTimeout.Duration)
	}
	if k.SignConcurrency < 0 || k.SignConcurrency > 256 {
		bad(p+".sign_concurrency", "want 0 (the default, 16) to 256, got %d", k.SignConcurrency)
	}
	if k.IAMEndpoint != "" && !k.GCSKeyless() {
		bad(p+".iam_endpoint", "only with iam_sign_blob or impersonate_service_account")
	}
	validURL(p+".iam_endpoint", k.IAMEndpoint, bad)
}

// validateKeylessFor refuses a keyless setting on a provider it does not
// belong to, and checks the Azure and AWS ones.
func (cr Credentials) validateKeylessFor(provider, p string, bad func(path, format string, args ...any)) {
	k := cr
	if provider != "gcs" {
		for name, set := range map[string]bool{
			"iam_sign_blob": k.IAMSignBlob, "impersonate_service_account": k.ImpersonateServiceAccount != "",
			"iam_endpoint": k.IAMEndpoint != "", "sign_timeout": k.SignTimeout.Duration != 0, "sign_concurrency": k.SignConcurrency != 0,
		} {
			if set {
				bad(p+"."+name, "only for gcs")
			}
		}
	}
	if provider != "azure" && (k.UserDelegation || k.DelegationKeyLifetime.Duration != 0) {
		bad(p+".user_delegation", "only for azure")
	}
	if provider == "azure" {
		if k.DelegationKeyLifetime.Duration != 0 && !k.UserDelegation {
			bad(p+".delegation_key_lifetime", "only with user_delegation")
		}
		if d := k.DelegationKeyLifetime.Duration; d != 0 && (d < time.Hour || d > 7*24*time.Hour) {
			bad(p+".delegation_key_lifetime", "want 1h to 168h (7 days), got %s", d)
		}
	}
	aws := k.RoleARN != "" || k.ExternalID != "" || k.SessionName != "" || k.Duration.Duration != 0 || k.SessionPolicy != "" || k.STSEndpoint != ""
	if provider != "s3" && aws {
		bad(p+".role_arn", "role_arn, external_id, session_name, duration, session_policy and sts_endpoint are only for s3")
	}
	if provider == "s3" && aws {
		if !validRoleARN(k.RoleARN) {
			bad(p+".role_arn", "want arn:aws:iam::<account>:role/<name>, got %q", k.RoleARN)
		}
		if n := len(k.ExternalID); n != 0 && (n < 2 || n > 1224 || !externalID.MatchString(k.ExternalID)) {
			bad(p+".external_id", "want 2 to 1224 of A-Z a-z 0-9 and +=,.@:/-")
		}
		if k.SessionName != "" && !sessionName.MatchString(k.SessionName) {
			bad(p+".session_name", "want 2 to 64 of A-Z a-z 0-9 and +=,.@-, got %q", k.SessionName)
		}
		if d := k.Duration.Duration; d != 0 && (d < 15*time.Minute || d > 12*time.Hour) {
			bad(p+".duration", "want 15m to 12h (and at most the role's maximum session duration), got %s", d)
		}
		if sp := k.SessionPolicy; sp != "" && sp != "bucket" && sp != "none" {
			bad(p+".session_policy", "want bucket (the default) or none, got %q", sp)
		}
		validURL(p+".sts_endpoint", k.STSEndpoint, bad)
	}
}

func validURL(p, v string, bad func(path, format string, args ...any)) {
	if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		bad(p, "want an http(s) URL, got %q", v)
	}
}
