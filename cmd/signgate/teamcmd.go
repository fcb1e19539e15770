package main

import (
	"flag"

	"github.com/signgate/signgate/server/config"
)

// teamFlags are the flags of the commands that print a bucket-side control
// for one team (netpolicy, cors): the team, and where its configuration
// comes from.
type teamFlags struct {
	cfgPath, team *string
	dev           *bool
}

func addTeamFlags(fs *flag.FlagSet, what string) teamFlags {
	return teamFlags{
		cfgPath: fs.String("config", "", "path to the YAML configuration"),
		dev:     fs.Bool("dev", false, "use the dev configuration and embedded policy data"),
		team:    fs.String("team", "", "the team to write "+what+" for"),
	}
}

// load checks the flags (a usage error otherwise) and reads the
// configuration they name.
func (f teamFlags) load(cmd string) (*config.Config, error) {
	if *f.team == "" || *f.dev == (*f.cfgPath != "") {
		return nil, usagef(cmd, "%s needs --team T and exactly one of --dev and --config FILE", cmd)
	}
	if *f.dev {
		cfg, _, err := devConfig()
		return cfg, err
	}
	return config.Load(*f.cfgPath)
}
