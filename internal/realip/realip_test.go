package realip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// recorder is the next handler: it keeps the request it was given.
type recorder struct{ got *http.Request }

func (h *recorder) ServeHTTP(_ http.ResponseWriter, r *http.Request) { h.got = r }

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestHandler(t *testing.T) {
	// The usual set-up: nginx on the same host, and a load balancer pool
	// in front of it.
	trusted := []string{"127.0.0.1/32", "::1/128", "10.0.0.0/8", "2001:db8:ffff::/48"}
	tests := []struct {
		name    string
		trusted []string // nil: the usual set-up
		peer    string   // RemoteAddr
		xff     []string // X-Forwarded-For headers, in order
		xri     []string // X-Real-IP headers
		want    string   // RemoteAddr seen by next
	}{
		{name: "untrusted peer, no header", peer: "203.0.113.9:4000", want: "203.0.113.9:4000"},
		{name: "untrusted peer, XFF ignored", peer: "203.0.113.9:4000", xff: []string{"198.51.100.1"}, want: "203.0.113.9:4000"},
		{name: "untrusted peer, X-Real-IP ignored", peer: "203.0.113.9:4000", xri: []string{"198.51.100.1"}, want: "203.0.113.9:4000"},
		{name: "untrusted peer next to a trusted network", peer: "11.0.0.1:4000", xff: []string{"198.51.100.1"}, want: "11.0.0.1:4000"},
		{name: "trusted peer, no header", peer: "127.0.0.1:4000", want: "127.0.0.1:4000"},
		{name: "one proxy", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "one proxy, spaces", peer: "127.0.0.1:4000", xff: []string{"  198.51.100.1 "}, want: "198.51.100.1:0"},
		{name: "spoofed leftmost entries", peer: "127.0.0.1:4000", xff: []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "spoofed trusted-looking leftmost", peer: "127.0.0.1:4000", xff: []string{"10.9.9.9, 198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "chain of proxies", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1, 10.1.0.7, 10.2.0.3"}, want: "198.51.100.1:0"},
		{name: "chain with spoofed entries", peer: "10.0.0.2:4000", xff: []string{"1.1.1.1,2.2.2.2,198.51.100.1,10.1.0.7"}, want: "198.51.100.1:0"},
		{name: "every entry trusted: leftmost", peer: "127.0.0.1:4000", xff: []string{"10.3.3.3, 10.1.0.7, 127.0.0.1"}, want: "10.3.3.3:0"},
		{name: "several headers joined in order", peer: "127.0.0.1:4000", xff: []string{"1.2.3.4", "198.51.100.1, 10.1.0.7"}, want: "198.51.100.1:0"},
		{name: "several headers, client in the first", peer: "127.0.0.1:4000", xff: []string{"1.2.3.4, 198.51.100.1", "10.1.0.7", "10.2.0.3"}, want: "198.51.100.1:0"},
		{name: "IPv6 client", peer: "[::1]:4000", xff: []string{"2001:db8::1"}, want: "[2001:db8::1]:0"},
		{name: "IPv6 chain", peer: "[2001:db8:ffff::2]:4000", xff: []string{"2001:db8:1::5, 2001:db8:ffff::9"}, want: "[2001:db8:1::5]:0"},
		{name: "IPv6 in brackets", peer: "127.0.0.1:4000", xff: []string{"[2001:db8::1]"}, want: "[2001:db8::1]:0"},
		{name: "IPv6 with port", peer: "127.0.0.1:4000", xff: []string{"[2001:db8::1]:51000"}, want: "[2001:db8::1]:0"},
		{name: "IPv4 with port", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1:51000"}, want: "198.51.100.1:0"},
		{name: "zone stripped", peer: "127.0.0.1:4000", xff: []string{"fe80::1%eth0"}, want: "[fe80::1]:0"},
		{name: "mapped client unmapped", peer: "127.0.0.1:4000", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "mapped peer is trusted", peer: "[::ffff:127.0.0.1]:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "mapped proxy in the chain is skipped", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1, ::ffff:10.1.0.7"}, want: "198.51.100.1:0"},
		{name: "mapped trusted prefix", trusted: []string{"::ffff:127.0.0.0/104"}, peer: "127.0.0.1:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "single address prefix", trusted: []string{"192.0.2.10/32"}, peer: "192.0.2.10:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "single address prefix, neighbour untrusted", trusted: []string{"192.0.2.10/32"}, peer: "192.0.2.11:4000", xff: []string{"198.51.100.1"}, want: "192.0.2.11:4000"},
		{name: "garbage only", peer: "127.0.0.1:4000", xff: []string{"not-an-ip"}, want: "127.0.0.1:4000"},
		{name: "garbage left of the client", peer: "127.0.0.1:4000", xff: []string{"<script>, 198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "garbage right of the client", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1, unknown"}, want: "127.0.0.1:4000"},
		{name: "garbage between proxies", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1, bogus, 10.1.0.7"}, want: "127.0.0.1:4000"},
		{name: "hostname", peer: "127.0.0.1:4000", xff: []string{"client.example"}, want: "127.0.0.1:4000"},
		{name: "CIDR is no address", peer: "127.0.0.1:4000", xff: []string{"198.51.100.0/24"}, want: "127.0.0.1:4000"},
		{name: "empty header", peer: "127.0.0.1:4000", xff: []string{""}, want: "127.0.0.1:4000"},
		{name: "empty entry right", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1,"}, want: "127.0.0.1:4000"},
		{name: "empty entry left (nginx appending to an empty header)", peer: "127.0.0.1:4000", xff: []string{", 198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "empty header, X-Real-IP not used", peer: "127.0.0.1:4000", xff: []string{""}, xri: []string{"198.51.100.1"}, want: "127.0.0.1:4000"},
		{name: "X-Real-IP", peer: "127.0.0.1:4000", xri: []string{"198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "X-Real-IP IPv6", peer: "127.0.0.1:4000", xri: []string{" 2001:db8::7 "}, want: "[2001:db8::7]:0"},
		{name: "X-Real-IP mapped", peer: "127.0.0.1:4000", xri: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "X-Real-IP garbage", peer: "127.0.0.1:4000", xri: []string{"198.51.100.1, 1.2.3.4"}, want: "127.0.0.1:4000"},
		{name: "X-Real-IP twice", peer: "127.0.0.1:4000", xri: []string{"198.51.100.1", "1.2.3.4"}, want: "127.0.0.1:4000"},
		{name: "XFF wins over X-Real-IP", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1"}, xri: []string{"1.2.3.4"}, want: "198.51.100.1:0"},
		{name: "peer without port", peer: "127.0.0.1", xff: []string{"198.51.100.1"}, want: "198.51.100.1:0"},
		{name: "peer unparsable", peer: "@", xff: []string{"198.51.100.1"}, want: "@"},
		{name: "peer empty", peer: "", xff: []string{"198.51.100.1"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.trusted
			if tr == nil {
				tr = trusted
			}
			next := &recorder{}
			h := New(prefixes(t, tr...)).Handler(next)
			req := httptest.NewRequest("GET", "/dash/login", nil)
			req.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.xri {
				req.Header.Add("X-Real-IP", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if next.got == nil {
				t.Fatal("next not called")
			}
			if next.got.RemoteAddr != tt.want {
				t.Errorf("RemoteAddr = %q, want %q", next.got.RemoteAddr, tt.want)
			}
			if req.RemoteAddr != tt.peer {
				t.Errorf("the caller's request was changed: RemoteAddr %q", req.RemoteAddr)
			}
			if next.got.Context() != req.Context() || next.got.URL != req.URL {
				t.Error("next got another context or URL")
			}
		})
	}
}

func TestHandlerWithoutTrustedProxies(t *testing.T) {
	next := &recorder{}
	for name, r := range map[string]*Resolver{"nil prefixes": New(nil), "empty": New([]netip.Prefix{}),
		"invalid only": New([]netip.Prefix{{}}), "nil resolver": nil} {
		if h := r.Handler(next); h != http.Handler(next) {
			t.Errorf("%s: Handler wrapped next", name)
		}
	}
}

func TestNewNormalises(t *testing.T) {
	r := New(prefixes(t, "10.1.2.3/8", "::ffff:192.0.2.0/120", "::ffff:0:0/80", "2001:db8::1/32"))
	want := []string{"10.0.0.0/8", "192.0.2.0/24", "::/80", "2001:db8::/32"}
	if len(r.trusted) != len(want) {
		t.Fatalf("trusted = %v, want %v", r.trusted, want)
	}
	for i, p := range r.trusted {
		if p.String() != want[i] {
			t.Errorf("trusted[%d] = %s, want %s", i, p, want[i])
		}
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"198.51.100.1:0", "198.51.100.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[2001:db8::1]:0", "2001:db8::1"},
		{"192.0.2.1", "192.0.2.1"},
		{"@", "@"},
		{"", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if got := ClientIP(r); got != tt.want {
			t.Errorf("ClientIP(RemoteAddr %q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

// TestClientIPBehindProxy is the two together, as the server runs them.
func TestClientIPBehindProxy(t *testing.T) {
	var got string
	h := New(prefixes(t, "127.0.0.1/32")).Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = ClientIP(r)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("X-Forwarded-For", "2001:db8::42")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "2001:db8::42" {
		t.Errorf("ClientIP = %q, want 2001:db8::42", got)
	}
}

// FuzzHandler feeds arbitrary X-Forwarded-For and X-Real-IP values from a
// trusted and an untrusted peer: the handler never panics, an untrusted
// peer is never replaced, and a trusted one is replaced only by an address
// written in the headers.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"", "198.51.100.1", "1.2.3.4, 198.51.100.1, 10.0.0.1", "[2001:db8::1]:80", "fe80::1%eth0",
		"::ffff:1.2.3.4", ",,,", "unknown", "10.0.0.1,10.0.0.2", "\x00", "[", "[]:"} {
		f.Add(s, s)
	}
	r := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	f.Fuzz(func(t *testing.T, xff, xri string) {
		next := &recorder{}
		h := r.Handler(next)
		for _, peer := range []string{"10.0.0.1:1000", "[::1]:1000", "203.0.113.9:1000"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = peer
			if xff != "" {
				req.Header.Set("X-Forwarded-For", xff)
			}
			req.Header.Set("X-Real-IP", xri)
			h.ServeHTTP(httptest.NewRecorder(), req)
			got := next.got.RemoteAddr
			if got == peer {
				continue
			}
			if strings.HasPrefix(peer, "203.") {
				t.Fatalf("untrusted peer replaced by %q", got)
			}
			ap, err := netip.ParseAddrPort(got)
			if err != nil || ap.Port() != 0 {
				t.Fatalf("RemoteAddr %q is not client:0", got)
			}
			a := ap.Addr()
			if a.Zone() != "" || a.Is4In6() {
				t.Fatalf("RemoteAddr %q not normalised", got)
			}
			if !containsAddr(xff, a) && !containsAddr(xri, a) {
				t.Fatalf("client %s is in neither header (%q, %q)", a, xff, xri)
			}
		}
	})
}

// containsAddr reports whether a comma-separated header names a.
func containsAddr(h string, a netip.Addr) bool {
	for e := range strings.SplitSeq(h, ",") {
		if b, ok := parseEntry(e); ok && b == a {
			return true
		}
	}
	return false
}
