// Package redistest starts Redis servers for tests: a real redis-server on a
// free loopback port in a temporary directory, a Redis Cluster of several
// (cluster.go), or the embedded miniredis. A missing redis-server or
// redis-cli fails the test (CI installs them); it never skips.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	URL  string
	cmd  *exec.Cmd
}

// Start starts a redis-server for the test on 127.0.0.1 and stops it at
// cleanup. extra are additional command-line options ("--appendonly", "yes").
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return start(t, func() []string { return extra })
}

// start is Start with the extra options chosen again on each attempt (a
// cluster node takes a second free port for its bus).
func start(t testing.TB, extra func() []string) *Server {
	t.Helper()
	bin := lookTool(t, "redis-server", "redis-server")
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", dir, "--protected-mode", "yes", "--loglevel", "warning"}, extra()...)
		cmd := exec.Command(bin, args...)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("redis-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		s := &Server{Addr: addr, URL: "redis://" + addr + "/0", cmd: cmd}
		if waitReady(addr, 10*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				logf.Close()
			})
			return s
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if attempt == 2 {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("redis-server did not start on %s: %s", addr, b)
		}
	}
}

// Client returns a go-redis client of the server, closed at cleanup.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// lookTool finds a program the tests need; a missing one fails the test
// (CI installs it), naming the Debian package that has it.
func lookTool(t testing.TB, name, pkg string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (apt-get install %s): %v", name, pkg, err)
	}
	return bin
}

func waitReady(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprint(c, "PING\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && line == "+PONG\r\n" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mini starts an embedded miniredis and returns a client of it.
func Mini(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return m, c
}

// Flush empties the current database (only ever of a server the test started).
func Flush(t testing.TB, c *redis.Client) {
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}
