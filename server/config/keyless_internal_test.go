package config

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidRoleARNAcceptsWhatTheBoundedPatternDid compares validRoleARN
// with the single pattern it replaced, which bounded the role's path and
// name inside the regexp, around both ends of the bound.
func TestValidRoleARNAcceptsWhatTheBoundedPatternDid(t *testing.T) {
	bounded := regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	prefixes := []string{
		"arn:aws:iam::123456789012:role/",
		"arn:aws-us-gov:iam::123456789012:role/",
		"arn:aws:iam::12345678901:role/",   // an 11-digit account
		"arn:aws:iam::123456789012:user/",  // not a role
		"arn:aws:iam::123456789012:role:/", // no ":role/"
		"xarn:aws:iam::123456789012:role/",
	}
	fills := []string{"r", "a/b", "x+=,.@-_9", ":", "é", " "}
	cases, accepted := 0, 0
	for _, prefix := range prefixes {
		for _, fill := range fills {
			for _, n := range []int{0, 1, 2, 255, 510, 511, 512, 513, 514, 1024} {
				name := strings.Repeat(fill, n/len(fill)+1)[:n]
				for _, arn := range []string{prefix + name, prefix + name + "\n", prefix + name + ":role/x"} {
					want := bounded.MatchString(arn)
					if got := validRoleARN(arn); got != want {
						t.Errorf("validRoleARN(%q) = %v, the bounded pattern says %v", arn, got, want)
					}
					cases++
					if want {
						accepted++
					}
				}
			}
		}
	}
	if cases != 1080 || accepted == 0 || accepted == cases {
		t.Fatalf("%d cases, %d accepted: want 1080, some accepted and some refused", cases, accepted)
	}
}
