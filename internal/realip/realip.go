// Package realip finds the address of the client behind the reverse proxies
// the operator trusts (http.trusted_proxies), so that per-address limits and
// the audit log see the citizen or staff member rather than the proxy.
//
// Resolver.Handler is installed once, in front of every handler; handlers
// then read the address with ClientIP and never look at X-Forwarded-For or
// X-Real-IP themselves. It imports only the standard library.
package realip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver rewrites the peer address of requests that come through a
// trusted proxy to the address of the client the proxy names.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver trusting the proxies in trusted. Addresses are
// normalised: an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is the IPv4
// prefix it maps (10.0.0.0/8). Invalid prefixes are dropped.
func New(trusted []netip.Prefix) *Resolver {
	r := &Resolver{}
	for _, p := range trusted {
		if !p.IsValid() {
			continue
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				// Wider than ::ffff:0:0/96: the rest of the IPv6 space as
				// well, keep it as given.
				r.trusted = append(r.trusted, p.Masked())
				continue
			}
			a, bits = a.Unmap(), bits-96
		}
		r.trusted = append(r.trusted, netip.PrefixFrom(a, bits).Masked())
	}
	return r
}

// Handler returns next behind the resolver. A request whose TCP peer is a
// trusted proxy is passed on (as a shallow copy) with RemoteAddr set to
// "client:0", the client being:
//
//   - with X-Forwarded-For (every such header, joined in order): the
//     rightmost entry that is not itself a trusted proxy, or the leftmost
//     entry when all are trusted. The walk from the right stops at an entry
//     that is not an address; if no untrusted address was found by then the
//     peer is kept, for what the client wrote is not to be believed.
//   - without X-Forwarded-For: X-Real-IP, when it is one address.
//
// A request from any other peer is passed on unchanged: its headers were
// written by the client and could name any address. With no trusted
// proxies, Handler returns next itself.
func (r *Resolver) Handler(next http.Handler) http.Handler {
	if r == nil || len(r.trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if client, ok := r.client(req); ok {
			req = req.WithContext(req.Context())
			req.RemoteAddr = netip.AddrPortFrom(client, 0).String()
		}
		next.ServeHTTP(w, req)
	})
}

// client returns the client a trusted peer names, or false to keep the
// peer.
func (r *Resolver) client(req *http.Request) (netip.Addr, bool) {
	peer, ok := parsePeer(req.RemoteAddr)
	if !ok || !r.isTrusted(peer) {
		return netip.Addr{}, false
	}
	if xff := req.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		return r.fromForwardedFor(xff)
	}
	if xri := req.Header.Values("X-Real-IP"); len(xri) == 1 {
		return parseEntry(xri[0])
	}
	return netip.Addr{}, false
}

// fromForwardedFor walks the entries of the X-Forwarded-For headers from
// the right: the last header first, each from its end.
func (r *Resolver) fromForwardedFor(headers []string) (netip.Addr, bool) {
	var leftmost netip.Addr
	for i := len(headers) - 1; i >= 0; i-- {
		h := headers[i]
		for {
			entry := h
			comma := strings.LastIndexByte(h, ',')
			if comma >= 0 {
				entry, h = h[comma+1:], h[:comma]
			}
			a, ok := parseEntry(entry)
			if !ok {
				return netip.Addr{}, false
			}
			if !r.isTrusted(a) {
				return a, true
			}
			leftmost = a
			if comma < 0 {
				break
			}
		}
	}
	return leftmost, leftmost.IsValid()
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePeer reads the address of RemoteAddr ("ip:port", or a bare ip).
func parsePeer(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return norm(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return norm(a), true
	}
	return netip.Addr{}, false
}

// parseEntry reads one entry of X-Forwarded-For or X-Real-IP: an address,
// possibly in brackets or with a port ("[2001:db8::1]:443", "192.0.2.1:80"),
// as some proxies write them.
func parseEntry(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return norm(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return norm(ap.Addr()), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return norm(a), true
		}
	}
	return netip.Addr{}, false
}

// norm drops the zone and unmaps IPv4-mapped IPv6 addresses, so that
// ::ffff:192.0.2.1 and 192.0.2.1 are one client and match one prefix.
func norm(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

// ClientIP is the address a request came from: the host part of
// RemoteAddr, which Resolver.Handler has set to the client's when the
// request came through a trusted proxy. A RemoteAddr that is not
// host:port is returned whole.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
