package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/config"
	"github.com/haochaping/haochaping/internal/web/dashboard"
)

const userUsage = `usage: haochaping user COMMAND [flags]

  user add -role admin|handler|supervisor [-units fh-g08,fh-t01] [-name 姓名] [-password-stdin] NAME
  user list
  user disable NAME | user enable NAME
  user passwd [-password-stdin] NAME

The password comes from HAOCHAPING_USER_PASSWORD, or the first line of
standard input with -password-stdin; without either a random one is made
and printed once. Accounts live in Redis (redis.url), so the embedded
Redis of a running serve cannot be reached: use the dashboard there.
`

// userStdin is where -password-stdin reads from (tests replace it).
var userStdin io.Reader = os.Stdin

func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return usageError{"user: no subcommand"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs, env)
	role := fs.String("role", "", "admin, handler or supervisor (add)")
	units := fs.String("units", "", "comma-separated unit IDs of a handler (add)")
	display := fs.String("name", "", "display name (add)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	// Flags may come before or after NAME.
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	switch sub {
	case "add", "list", "disable", "enable", "passwd":
	default:
		fmt.Fprint(stderr, userUsage)
		return usageError{fmt.Sprintf("user: unknown subcommand %q", sub)}
	}
	if len(pos) != want {
		fmt.Fprint(stderr, userUsage)
		return usageError{fmt.Sprintf("user %s: want %d argument(s), got %d", sub, want, len(pos))}
	}
	cfg, err := config.Load(*cfgPath, env)
	if err != nil {
		return err
	}
	if cfg.Redis.Embedded() {
		return errors.New("user: redis.url is \"embedded\": accounts of an embedded Redis live only inside serve; " +
			"set redis.url (HAOCHAPING_REDIS_URL) or use HAOCHAPING_ADMIN_USER/HAOCHAPING_ADMIN_PASSWORD and the dashboard")
	}
	rdb, err := newRedisClient(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	unitDir, err := cfg.LoadUnits()
	if err != nil {
		return err
	}
	acc := dashboard.NewAccounts(rdb, cfg.Redis.Namespace, unitDir.IDs())
	audit := dashboard.NewAuditLog(rdb, cfg.Redis.Namespace, cfg.Dashboard.AuditMaxLen)
	password := func() (string, bool, error) {
		if *fromStdin {
			line, err := bufio.NewReader(userStdin).ReadString('\n')
			if err != nil && line == "" {
				return "", false, fmt.Errorf("read password from stdin: %w", err)
			}
			return strings.TrimRight(line, "\r\n"), false, nil
		}
		if pw := env("HAOCHAPING_USER_PASSWORD"); pw != "" {
			return pw, false, nil
		}
		return dashboard.RandomPassword(), true, nil
	}
	cli := "cli"
	switch sub {
	case "list":
		us, err := acc.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tUNITS\tSTATE\tDISPLAY")
		for _, u := range us {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, strings.Join(u.Units, ","), state, u.DisplayName)
		}
		return tw.Flush()
	case "add":
		pw, generated, err := password()
		if err != nil {
			return err
		}
		var us []string
		if *units != "" {
			us = strings.Split(*units, ",")
		}
		u, err := acc.Create(ctx, dashboard.NewUser{Name: pos[0], DisplayName: *display, Role: casecore.Role(*role), Units: us, Password: pw})
		if err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		_ = audit.Add(ctx, dashboard.AuditEntry{Kind: dashboard.AuditUser, Actor: cli, Detail: "add " + u.Name + " " + string(u.Role) + " " + strings.Join(u.Units, ",")})
		fmt.Fprintf(stdout, "account %s created (%s)\n", u.Name, u.Role)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
	case "disable", "enable":
		if err := acc.SetDisabled(ctx, pos[0], sub == "disable"); err != nil {
			return fmt.Errorf("user %s: %w", sub, err)
		}
		_ = audit.Add(ctx, dashboard.AuditEntry{Kind: dashboard.AuditUser, Actor: cli, Detail: sub + " " + pos[0]})
		fmt.Fprintf(stdout, "account %s %sd\n", pos[0], sub)
	case "passwd":
		pw, generated, err := password()
		if err != nil {
			return err
		}
		if err := acc.SetPassword(ctx, pos[0], pw); err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		dc := cfg.Dashboard
		if err := dashboard.NewLimiter(rdb, cfg.Redis.Namespace, dc.LoginRate, dc.LockoutFailures, dc.LockoutDuration).Unlock(ctx, pos[0]); err != nil {
			return fmt.Errorf("user passwd: unlock: %w", err)
		}
		_ = audit.Add(ctx, dashboard.AuditEntry{Kind: dashboard.AuditUser, Actor: cli, Detail: "password " + pos[0]})
		fmt.Fprintf(stdout, "password of %s changed; its sessions ended and any lock-out lifted\n", pos[0])
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
	}
	return nil
}
