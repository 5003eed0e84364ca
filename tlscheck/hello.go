package tlscheck

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"

	utls "github.com/refraction-networking/utls"
)

// The ClientHello of the prober is OpenSSL 3.0's default client hello (what
// sendmail, Postfix' smtp client, posttls-finger and openssl s_client send),
// restricted to what the handshake code can complete: the same cipher suite
// order (TLS 1.3 suites included: AES-256-GCM first, so that a server honouring
// the client's order negotiates what it negotiates with sendmail), the same
// group order and key share, the same signature algorithms. crypto/tls cannot
// reorder TLS 1.3 suites (it prefers AES-128-GCM), hence uTLS.
//
// Left out, because neither crypto/tls nor uTLS can complete them: the DHE
// suites, x448 and the ffdhe groups, ed448, RSA-PSS-PSS signatures and
// encrypt_then_mac. A server that prefers one of those over everything else
// negotiates differently with sendmail.

// opensslSuiteOrder is `openssl ciphers -s DEFAULT` of OpenSSL 3.0 (Debian
// 12), without the suites the handshake cannot complete.
var opensslSuiteOrder = []uint16{
	tls.TLS_AES_256_GCM_SHA384,
	tls.TLS_CHACHA20_POLY1305_SHA256,
	tls.TLS_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
}

// legacySuites are offered after the default ones with ProbeOptions.Legacy
// (OpenSSL builds of old MTAs still offer them).
var legacySuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	tls.TLS_RSA_WITH_RC4_128_SHA,
}

// scsvRenegotiation is TLS_EMPTY_RENEGOTIATION_INFO_SCSV, which OpenSSL
// sends instead of an empty renegotiation_info extension.
const scsvRenegotiation = 0x00ff

// opensslGroups is OpenSSL 3.0's default group list (x25519, secp256r1,
// x448, secp521r1, secp384r1, ffdhe…) without x448 and ffdhe.
var opensslGroups = []utls.CurveID{utls.X25519, utls.CurveP256, utls.CurveP521, utls.CurveP384}

// opensslSigAlgs is OpenSSL 3.0's default signature_algorithms list at
// security level 2 without ed448 and rsa_pss_pss_*.
var opensslSigAlgs = []utls.SignatureScheme{
	utls.ECDSAWithP256AndSHA256, utls.ECDSAWithP384AndSHA384, utls.ECDSAWithP521AndSHA512,
	utls.Ed25519,
	utls.PSSWithSHA256, utls.PSSWithSHA384, utls.PSSWithSHA512,
	utls.PKCS1WithSHA256, utls.PKCS1WithSHA384, utls.PKCS1WithSHA512,
}

// legacySigAlgs are added with ProbeOptions.Legacy.
var legacySigAlgs = []utls.SignatureScheme{utls.ECDSAWithSHA1, utls.PKCS1WithSHA1}

// OpenSSLCipherOrder returns the cipher suites the prober offers, in order
// (legacy: with the old suites after them).
func OpenSSLCipherOrder(legacy bool) []uint16 {
	out := append([]uint16(nil), opensslSuiteOrder...)
	if legacy {
		out = append(out, legacySuites...)
	}
	return out
}

// helloSpec is the ClientHello for one connection (a spec carries state:
// one per connection). serverName empty: no SNI.
func helloSpec(serverName string, legacy bool) *utls.ClientHelloSpec {
	suites := append(OpenSSLCipherOrder(legacy), scsvRenegotiation)
	sigs := opensslSigAlgs
	versions := []uint16{utls.VersionTLS13, utls.VersionTLS12}
	minVers := uint16(utls.VersionTLS12)
	if legacy {
		sigs = append(append([]utls.SignatureScheme(nil), sigs...), legacySigAlgs...)
		versions = append(versions, utls.VersionTLS11, utls.VersionTLS10)
		minVers = utls.VersionTLS10
	}
	var exts []utls.TLSExtension
	if serverName != "" {
		exts = append(exts, &utls.SNIExtension{ServerName: serverName})
	}
	exts = append(exts,
		&utls.SupportedPointsExtension{SupportedPoints: []byte{0}}, // uncompressed
		&utls.SupportedCurvesExtension{Curves: opensslGroups},
		&utls.SessionTicketExtension{},
		&utls.ExtendedMasterSecretExtension{},
		&utls.SignatureAlgorithmsExtension{SupportedSignatureAlgorithms: sigs},
		&utls.SupportedVersionsExtension{Versions: versions},
		&utls.PSKKeyExchangeModesExtension{Modes: []uint8{1}}, // psk_dhe_ke
		&utls.KeyShareExtension{KeyShares: []utls.KeyShare{{Group: utls.X25519}}},
		// Not in OpenSSL's default hello: asks for the OCSP staple, which the
		// report shows. It does not change what is negotiated.
		&utls.StatusRequestExtension{},
	)
	return &utls.ClientHelloSpec{
		TLSVersMin:         minVers,
		TLSVersMax:         utls.VersionTLS13,
		CipherSuites:       suites,
		CompressionMethods: []byte{0},
		Extensions:         exts,
	}
}

// newClient returns the uTLS client for raw with OpenSSL's hello. verify is
// called with the presented chain before the handshake completes (also when
// it fails later).
func newClient(raw net.Conn, serverName string, legacy bool, verify func(utls.ConnectionState) error) (*utls.UConn, error) {
	cfg := &utls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the chain is verified by VerifyChain, as presented
		ServerName:         serverName,
		MinVersion:         utls.VersionTLS12,
		VerifyConnection:   verify,
	}
	if legacy {
		cfg.MinVersion = utls.VersionTLS10
	}
	uc := utls.UClient(raw, cfg, utls.HelloCustom)
	if err := uc.ApplyPreset(helloSpec(serverName, legacy)); err != nil {
		return nil, fmt.Errorf("build ClientHello: %w", err)
	}
	return uc, nil
}

// GroupName is the name of a TLS key exchange group (IANA registry names).
func GroupName(id uint16) string {
	switch id {
	case 23:
		return "secp256r1"
	case 24:
		return "secp384r1"
	case 25:
		return "secp521r1"
	case 29:
		return "x25519"
	case 30:
		return "x448"
	case 256, 257, 258, 259, 260:
		return fmt.Sprintf("ffdhe%d", []int{2048, 3072, 4096, 6144, 8192}[id-256])
	case 4588:
		return "X25519MLKEM768"
	}
	return fmt.Sprintf("0x%04x", id)
}

// helloSniffer reads the server's plaintext handshake messages as they go
// by (ServerHello, ServerKeyExchange) to learn the key exchange group, which
// neither crypto/tls's nor uTLS's ConnectionState reports. It stops at the
// first record that is not a plaintext handshake record.
type helloSniffer struct {
	net.Conn
	done   bool
	rec    []byte // bytes of the current, incomplete record(s)
	hs     []byte // handshake message bytes not yet parsed
	group  uint16 // from key_share (TLS 1.3) or ServerKeyExchange (TLS 1.2)
	suite  uint16
	ecdhe  bool // a ServerKeyExchange with a named curve was seen
	parsed int  // bytes looked at (bounded)
}

func (s *helloSniffer) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	if !s.done && n > 0 {
		s.feed(b[:n])
	}
	return n, err
}

const sniffLimit = 1 << 17

func (s *helloSniffer) feed(p []byte) {
	s.parsed += len(p)
	if s.parsed > sniffLimit {
		s.done = true
		return
	}
	s.rec = append(s.rec, p...)
	for len(s.rec) >= 5 && !s.done {
		typ, n := s.rec[0], int(binary.BigEndian.Uint16(s.rec[3:5]))
		if typ != 22 { // not handshake: ChangeCipherSpec, alert or encrypted data
			s.done = true
			break
		}
		if len(s.rec) < 5+n {
			break
		}
		s.hs = append(s.hs, s.rec[5:5+n]...)
		s.rec = s.rec[5+n:]
		s.parseMessages()
	}
	if s.done {
		s.rec, s.hs = nil, nil
	}
}

func (s *helloSniffer) parseMessages() {
	for len(s.hs) >= 4 {
		typ := s.hs[0]
		n := int(s.hs[1])<<16 | int(s.hs[2])<<8 | int(s.hs[3])
		if len(s.hs) < 4+n {
			return
		}
		body := s.hs[4 : 4+n]
		switch typ {
		case 2: // ServerHello (or HelloRetryRequest: the real one follows)
			s.serverHello(body)
		case 12: // ServerKeyExchange: curve_type 3 = named_curve
			if len(body) >= 3 && body[0] == 3 {
				s.group, s.ecdhe = binary.BigEndian.Uint16(body[1:3]), true
			}
		case 14: // ServerHelloDone: nothing of interest follows in the clear
			s.done = true
		}
		s.hs = s.hs[4+n:]
	}
}

// serverHello reads the cipher suite and the key_share group.
func (s *helloSniffer) serverHello(b []byte) {
	// version(2) random(32) session_id(1+n) cipher(2) compression(1) extensions(2+n)
	if len(b) < 35 {
		return
	}
	sidLen := int(b[34])
	p := 35 + sidLen
	if len(b) < p+3 {
		return
	}
	s.suite = binary.BigEndian.Uint16(b[p : p+2])
	p += 3
	if len(b) < p+2 {
		return
	}
	ext := b[p+2:]
	for len(ext) >= 4 {
		id, n := binary.BigEndian.Uint16(ext[0:2]), int(binary.BigEndian.Uint16(ext[2:4]))
		if len(ext) < 4+n {
			return
		}
		if id == 51 && n >= 2 { // key_share: the server's share (or the HRR group)
			s.group = binary.BigEndian.Uint16(ext[4:6])
		}
		ext = ext[4+n:]
	}
}

// keyExchange names the key exchange of a finished handshake.
func (s *helloSniffer) keyExchange(version uint16, suite uint16) string {
	if s.group != 0 && (version == tls.VersionTLS13 || s.ecdhe) {
		return GroupName(s.group)
	}
	if version != tls.VersionTLS13 && rsaKeyExchange(suite) {
		return "RSA"
	}
	return ""
}

func rsaKeyExchange(id uint16) bool {
	switch id {
	case tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
		tls.TLS_RSA_WITH_RC4_128_SHA:
		return true
	}
	return false
}
