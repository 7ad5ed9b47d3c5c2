package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/config"
)

func cmdCalendar(args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: haochaping calendar add DATE N [--natural] [-config FILE]"}
	}
	fs := flag.NewFlagSet("calendar add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs, env)
	natural := fs.Bool("natural", false, "count natural (calendar) days instead of working days")
	// Flags may come before or after the two positional arguments.
	var pos []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	if len(pos) != 2 {
		return usageError{"usage: haochaping calendar add DATE N [--natural]   (e.g. calendar add 2026-02-13 5)"}
	}
	from, err := casecore.ParseDate(pos[0])
	if err != nil {
		return usageError{err.Error()}
	}
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 0 || n > 366 {
		return usageError{fmt.Sprintf("N: %q, want a number of days 0..366", pos[1])}
	}
	cfg, err := config.Load(*cfgPath, env)
	if err != nil {
		return err
	}
	cal, err := cfg.LoadCalendar()
	if err != nil {
		return err
	}
	var due casecore.Date
	var provisional bool
	kind := "working"
	if *natural {
		kind = "natural"
		due, provisional = cal.AddNaturalDays(from, n)
	} else {
		due, provisional = cal.AddWorkingDays(from, n)
	}
	fmt.Fprintln(stdout, due)
	note := fmt.Sprintf("%d %s days after %s (%s, not counted): due %s (%s), ends 24:00 Asia/Shanghai",
		n, kind, from, from.Weekday(), due, due.Weekday())
	if provisional {
		note += "; PROVISIONAL: the holidays of a year it crosses are not announced yet"
	}
	fmt.Fprintln(stderr, note)
	return nil
}

func cmdConfig(args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError{"usage: haochaping config check [-config FILE]"}
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs, env)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, env)
	if err != nil {
		return err
	}
	units, err := cfg.LoadUnits()
	if err != nil {
		return err
	}
	cal, err := cfg.LoadCalendar()
	if err != nil {
		return err
	}
	var announced []string
	for _, y := range cal.Years() {
		if cal.Announced(y) {
			announced = append(announced, strconv.Itoa(y))
		}
	}
	fmt.Fprintf(stdout, "configuration OK\n  http.addr        %s\n  http.public_url  %s\n  redis.url        %s\n  redis.cluster    %t\n  redis.namespace  %s\n",
		cfg.HTTP.Addr, cfg.HTTP.PublicURL, cfg.RedactedRedisURL(), cfg.Redis.Cluster, cfg.Redis.Namespace)
	fmt.Fprintf(stdout, "  units            %d\n  calendar         %s, announced years %s\n  rules            %s\n  api tokens       %d (+admin token: %v)\n",
		len(units.Units), cal.Version(), strings.Join(announced, " "), cfg.Workflow.Rules.ID(), len(cfg.Auth.Tokens), cfg.Auth.AdminToken != "")
	if cfg.SIP.Enabled {
		fmt.Fprintf(stdout, "  sip              %s, allow %s, rtp ports %s, max calls %d\n",
			cfg.SIP.Addr, strings.Join(cfg.SIP.Allow, ","), cfg.SIP.RTPPorts, cfg.SIP.MaxCalls)
	} else {
		fmt.Fprintf(stdout, "  sip              off (sip.enabled, HAOCHAPING_SIP_ENABLED)\n")
	}
	fmt.Fprintf(stdout, "  sms              provider %s, send window %s\n", cfg.SMS.Provider, cfg.SMS.SendWindow)
	return nil
}

func cmdUnits(args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("units", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, env)
	if err != nil {
		return err
	}
	d, err := cfg.LoadUnits()
	if err != nil {
		return err
	}
	for _, u := range d.Units {
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", u.ID, u.Group, u.Level, u.Name)
	}
	return nil
}
