// Command haochaping is the telephony and SMS integration server of the
// 12345 hotline's 好差评 rating system. main only parses flags, builds the
// parts from the configuration, runs them and shuts them down in order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "haochaping:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `usage: haochaping COMMAND [flags]

commands:
  serve            run the server (API, dashboard, deadline worker)
  version          print the version
  calendar add DATE N [--natural]
                   print the date N working (or natural) days after DATE
  config check     load and validate the configuration, print the effective settings
  units            list the service units
  user add|list|disable|enable|passwd   manage dashboard accounts

Run "haochaping COMMAND -h" for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr, env)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "haochaping", version)
		return nil
	case "calendar":
		return cmdCalendar(args[1:], stdout, stderr, env)
	case "config":
		return cmdConfig(args[1:], stdout, stderr, env)
	case "units":
		return cmdUnits(args[1:], stdout, stderr, env)
	case "user":
		return cmdUser(ctx, args[1:], stdout, stderr, env)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// configFlag adds the -config flag, defaulting to HAOCHAPING_CONFIG.
func configFlag(fs *flag.FlagSet, env func(string) string) *string {
	return fs.String("config", env("HAOCHAPING_CONFIG"), "configuration file (YAML); env HAOCHAPING_CONFIG")
}
