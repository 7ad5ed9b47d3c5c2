package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// This file is a minimal capture reader for tests: classic libpcap files
// (either byte order, microsecond or nanosecond timestamps) and pcapng
// (section, interface and enhanced/simple packet blocks), with Ethernet
// (VLAN tags too), Linux cooked (v1 and v2), BSD loopback and raw IP link
// layers, IPv4 and IPv6, UDP only. It is enough for SIPp's captures in
// /usr/share/sip-tester and for captures taken with tcpdump or tshark.

// sipTesterDir is where Debian's sip-tester package installs SIPp's RTP
// captures; CI installs the package.
const sipTesterDir = "/usr/share/sip-tester"

type udpPacket struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Link-layer types (LINKTYPE_*).
const (
	linkNull     = 0
	linkEthernet = 1
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// readPCAPFile reads the UDP datagrams of a capture; a missing sip-tester
// capture fails the test with the package to install.
func readPCAPFile(t testing.TB, path string) []udpPacket {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(path, sipTesterDir) {
			t.Fatalf("%v: SIPp's captures are missing; run apt-get install sip-tester", err)
		}
		t.Fatal(err)
	}
	pkts, err := parsePCAP(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pkts
}

func parsePCAP(b []byte) ([]udpPacket, error) {
	if len(b) < 4 {
		return nil, errors.New("pcap: file too short")
	}
	if binary.LittleEndian.Uint32(b) == 0x0A0D0D0A {
		return parsePCAPNG(b)
	}
	if len(b) < 24 {
		return nil, errors.New("pcap: file too short")
	}
	var bo binary.ByteOrder
	nano := false
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xA1B2C3D4:
		bo = binary.LittleEndian
	case 0xD4C3B2A1:
		bo = binary.BigEndian
	case 0xA1B23C4D:
		bo, nano = binary.LittleEndian, true
	case 0x4D3CB2A1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: bad magic %#x", m)
	}
	link := bo.Uint32(b[20:]) & 0xFFFF
	var out []udpPacket
	for off := 24; off+16 <= len(b); {
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(b) {
			return out, errors.New("pcap: truncated record")
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		if p, ok := decodeLink(link, b[off:off+incl]); ok {
			p.Time = time.Unix(int64(sec), ns).UTC()
			out = append(out, p)
		}
		off += incl
	}
	return out, nil
}

func parsePCAPNG(b []byte) ([]udpPacket, error) {
	var bo binary.ByteOrder = binary.LittleEndian
	var links []uint32
	var out []udpPacket
	for off := 0; off+12 <= len(b); {
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == 0x0A0D0D0A { // section header: learn the byte order
			switch binary.LittleEndian.Uint32(b[off+8:]) {
			case 0x1A2B3C4D:
				bo = binary.LittleEndian
			case 0x4D3C2B1A:
				bo = binary.BigEndian
			default:
				return out, errors.New("pcapng: bad byte-order magic")
			}
			links = links[:0]
		} else {
			typ = bo.Uint32(b[off:])
		}
		size := int(bo.Uint32(b[off+4:]))
		if size < 12 || off+size > len(b) {
			return out, errors.New("pcapng: truncated block")
		}
		body := b[off+8 : off+size-4]
		switch typ {
		case 1: // interface description
			if len(body) >= 2 {
				links = append(links, uint32(bo.Uint16(body)))
			}
		case 6: // enhanced packet (timestamps assumed in microseconds)
			if len(body) >= 20 {
				ifc, capLen := int(bo.Uint32(body)), int(bo.Uint32(body[12:]))
				ts := uint64(bo.Uint32(body[4:]))<<32 | uint64(bo.Uint32(body[8:]))
				if ifc < len(links) && 20+capLen <= len(body) {
					if p, ok := decodeLink(links[ifc], body[20:20+capLen]); ok {
						p.Time = time.UnixMicro(int64(ts)).UTC()
						out = append(out, p)
					}
				}
			}
		case 3: // simple packet
			if len(links) > 0 && len(body) >= 4 {
				if p, ok := decodeLink(links[0], body[4:]); ok {
					out = append(out, p)
				}
			}
		}
		off += size
	}
	return out, nil
}

// decodeLink strips the link layer and returns the UDP datagram, if any.
func decodeLink(link uint32, f []byte) (udpPacket, bool) {
	var ethType uint16
	switch link {
	case linkEthernet:
		if len(f) < 14 {
			return udpPacket{}, false
		}
		ethType, f = binary.BigEndian.Uint16(f[12:]), f[14:]
		for (ethType == 0x8100 || ethType == 0x88A8) && len(f) >= 4 {
			ethType, f = binary.BigEndian.Uint16(f[2:]), f[4:]
		}
	case linkSLL:
		if len(f) < 16 {
			return udpPacket{}, false
		}
		ethType, f = binary.BigEndian.Uint16(f[14:]), f[16:]
	case linkSLL2:
		if len(f) < 20 {
			return udpPacket{}, false
		}
		ethType, f = binary.BigEndian.Uint16(f[0:]), f[20:]
	case linkNull, linkLoop:
		if len(f) < 4 {
			return udpPacket{}, false
		}
		f = f[4:]
		return decodeIP(f)
	case linkRaw, linkIPv4, linkIPv6:
		return decodeIP(f)
	default:
		return udpPacket{}, false
	}
	if ethType != 0x0800 && ethType != 0x86DD {
		return udpPacket{}, false
	}
	return decodeIP(f)
}

func decodeIP(f []byte) (udpPacket, bool) {
	if len(f) < 1 {
		return udpPacket{}, false
	}
	var src, dst netip.Addr
	switch f[0] >> 4 {
	case 4:
		ihl := int(f[0]&0x0F) * 4
		if ihl < 20 || len(f) < ihl || f[9] != 17 {
			return udpPacket{}, false
		}
		if binary.BigEndian.Uint16(f[6:])&0x3FFF != 0 {
			return udpPacket{}, false // a fragment
		}
		if total := int(binary.BigEndian.Uint16(f[2:])); total >= ihl && total <= len(f) {
			f = f[:total] // drop Ethernet padding
		}
		src, dst = netip.AddrFrom4([4]byte(f[12:16])), netip.AddrFrom4([4]byte(f[16:20]))
		f = f[ihl:]
	case 6:
		if len(f) < 40 || f[6] != 17 {
			return udpPacket{}, false
		}
		src, dst = netip.AddrFrom16([16]byte(f[8:24])), netip.AddrFrom16([16]byte(f[24:40]))
		f = f[40:]
	default:
		return udpPacket{}, false
	}
	if len(f) < 8 {
		return udpPacket{}, false
	}
	n := int(binary.BigEndian.Uint16(f[4:]))
	if n < 8 || n > len(f) {
		n = len(f)
	}
	return udpPacket{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(f[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(f[2:])),
		Payload: f[8:n],
	}, true
}

func TestParsePCAP(t *testing.T) {
	pkts := readPCAPFile(t, sipTesterDir+"/dtmf_2833_5.pcap")
	if len(pkts) != 10 {
		t.Fatalf("got %d packets, want 10", len(pkts))
	}
	p := pkts[0]
	if got, want := p.Src.String(), "192.168.0.3:49176"; got != want {
		t.Errorf("src %s, want %s", got, want)
	}
	if got, want := p.Dst.String(), "192.168.0.1:10000"; got != want {
		t.Errorf("dst %s, want %s", got, want)
	}
	if len(p.Payload) != 16 { // 12-byte RTP header + 4-byte event
		t.Errorf("payload %d bytes, want 16", len(p.Payload))
	}
	if d := pkts[9].Time.Sub(p.Time); d < 139*time.Millisecond || d > 141*time.Millisecond {
		t.Errorf("capture spans %v, want 140ms", d)
	}
}
