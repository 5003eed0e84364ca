package tlscheck

import (
	"context"
	"net"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// startTruncating is a DNS server on 127.0.0.1 whose UDP answers are empty
// and truncated (TC set) and whose TCP answers, on the same port, hold a
// TXT "over-tcp" and a TLSA record: only a client that asks again over TCP
// sees the records.
func startTruncating(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	handler := func(tcp bool) dns.Handler {
		return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(req)
			if !tcp {
				m.Truncated = true
				_ = w.WriteMsg(m)
				return
			}
			q := req.Question[0]
			hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 60}
			switch q.Qtype {
			case dns.TypeTXT:
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{"over-tcp"}})
			case dns.TypeTLSA:
				m.Answer = append(m.Answer, &dns.TLSA{Hdr: hdr, Usage: 3, Selector: 1, MatchingType: 1, Certificate: "abcd"})
			}
			_ = w.WriteMsg(m)
		})
	}
	serveDNS(t, &dns.Server{PacketConn: pc, Handler: handler(false)})
	serveDNS(t, &dns.Server{Listener: ln, Handler: handler(true)})
	return ln.Addr().String()
}

// A truncated UDP answer is asked again over TCP, for the plain lookups
// (TXT here) and for the DANE TLSA lookup alike.
func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	r := &Resolver{Addr: startTruncating(t)}
	ctx := context.Background()
	txt, err := r.LookupTXT(ctx, "_mta-sts.example.org")
	if err != nil || !slices.Equal(txt, []string{"over-tcp"}) {
		t.Errorf("TXT = %q, %v; want [over-tcp]", txt, err)
	}
	l := r.LookupTLSA(ctx, "mx.example.org", 25)
	if l.Err != nil || len(l.Records) != 1 || l.Records[0].Usage != 3 {
		t.Errorf("TLSA = %+v; want the one record sent over TCP", l)
	}
}
