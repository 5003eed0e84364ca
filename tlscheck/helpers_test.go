package tlscheck

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is the fixed clock of the engine tests.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var (
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidST    = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// atv is one attribute for rawName.
type atv struct {
	oid asn1.ObjectIdentifier
	val string
}

// rawName DER-encodes a Name with one attribute per RDN, in the given order.
func rawName(t testing.TB, attrs ...atv) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, a := range attrs {
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: a.oid, Value: a.val}})
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// certSpec describes a certificate to issue.
type certSpec struct {
	subject   []byte // raw DER subject; default CN=cn
	cn        string
	dns       []string
	emails    []string
	ips       []string
	uris      []string
	notBefore time.Time
	notAfter  time.Time
	isCA      bool
	rsaBits   int // 0: ECDSA P-256
	extra     []pkix.Extension
}

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var (
	keyMu    sync.Mutex
	rsaCache = map[int]*rsa.PrivateKey{}
)

func newKey(t testing.TB, rsaBits int) crypto.Signer {
	t.Helper()
	if rsaBits == 0 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := rsaCache[rsaBits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		t.Fatal(err)
	}
	rsaCache[rsaBits] = k
	return k
}

var serial int64 = 1000

// issue creates a certificate signed by parent (nil: self-signed).
func issue(t testing.TB, s certSpec, parent *testCert) *testCert {
	t.Helper()
	key := newKey(t, s.rsaBits)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		DNSNames:              s.dns,
		EmailAddresses:        s.emails,
		BasicConstraintsValid: true,
		IsCA:                  s.isCA,
		ExtraExtensions:       s.extra,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = testNow.Add(-30 * 24 * time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = testNow.Add(365 * 24 * time.Hour)
	}
	if s.subject != nil {
		tmpl.RawSubject = s.subject
	} else {
		tmpl.Subject = pkix.Name{CommonName: s.cn}
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if s.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

// testPKI is a root and an intermediate CA.
type testPKI struct {
	root, inter *testCert
	pool        *x509.CertPool
}

func newPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	root := issue(t, certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, name}, atv{oidCN, name + " Root"}), isCA: true,
		notBefore: testNow.Add(-3650 * 24 * time.Hour), notAfter: testNow.Add(3650 * 24 * time.Hour)}, nil)
	inter := issue(t, certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, name}, atv{oidCN, name + " Sub CA"}), isCA: true,
		notBefore: testNow.Add(-365 * 24 * time.Hour), notAfter: testNow.Add(3000 * 24 * time.Hour)}, root)
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	return &testPKI{root: root, inter: inter, pool: pool}
}

// leaf issues a server certificate from the intermediate.
func (p *testPKI) leaf(t testing.TB, s certSpec) *testCert { return issue(t, s, p.inter) }

// chain returns leaf + intermediate, as a server would send it.
func (p *testPKI) chain(l *testCert) []*x509.Certificate {
	return []*x509.Certificate{l.cert, p.inter.cert}
}

// tlsCert turns a leaf and the certificates to send after it into a tls.Certificate.
func tlsCert(l *testCert, rest ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{PrivateKey: l.key, Leaf: l.cert}
	c.Certificate = append(c.Certificate, l.cert.Raw)
	for _, r := range rest {
		c.Certificate = append(c.Certificate, r.Raw)
	}
	return c
}

// facts builds the Facts a successful STARTTLS probe would produce.
func facts(serverName string, chain []*x509.Certificate, roots *x509.CertPool, bits int) *Facts {
	f := &Facts{
		Target: serverName, ServerName: serverName, Port: 25, Addr: netip.MustParseAddr("192.0.2.10"),
		TLSVersion: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", CipherBits: bits, Chain: chain, TriedTLS: true,
	}
	f.Verify, f.VerifyError = VerifyChain(chain, roots, testNow)
	f.FillCertFacts()
	return f
}

func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b strings.Builder
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPolicy(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy("access", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
