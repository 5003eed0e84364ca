package tlscheck

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// PeerCert describes one presented certificate the way posttls-finger -C
// and testssl.sh do: names, validity, fingerprints, key and signature.
type PeerCert struct {
	Subject    string `json:"subject"` // sendmail oneline+xtext form
	Issuer     string `json:"issuer"`
	NotAfter   string `json:"not_after"`   // RFC 3339, UTC
	SHA256     string `json:"sha256"`      // of the DER certificate, lower-case hex
	SPKISHA256 string `json:"spki_sha256"` // of the DER SubjectPublicKeyInfo
	KeyType    string `json:"key_type"`    // RSA, ECDSA, Ed25519, DSA
	KeyBits    int    `json:"key_bits"`
	SigAlg     string `json:"signature_algorithm"` // of the certificate (SHA256-RSA, ECDSA-SHA384, …)
}

// DescribeCert returns the PeerCert of c (zero for nil).
func DescribeCert(c *x509.Certificate) PeerCert {
	if c == nil {
		return PeerCert{}
	}
	p := PeerCert{
		NotAfter:   c.NotAfter.UTC().Format(time.RFC3339),
		SHA256:     sha256Hex(c.Raw),
		SPKISHA256: sha256Hex(c.RawSubjectPublicKeyInfo),
		SigAlg:     c.SignatureAlgorithm.String(),
	}
	p.Subject, _ = SendmailDN(c.RawSubject)
	p.Issuer, _ = SendmailDN(c.RawIssuer)
	p.KeyType, p.KeyBits = keyInfo(c)
	return p
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// keyInfo returns the public key's type and size in bits.
func keyInfo(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	switch c.PublicKeyAlgorithm {
	case x509.DSA:
		return "DSA", 0
	case x509.UnknownPublicKeyAlgorithm:
		return "unknown", 0
	}
	return c.PublicKeyAlgorithm.String(), 0
}

// describeChain describes every presented certificate, leaf first.
func describeChain(chain []*x509.Certificate) []PeerCert {
	out := make([]PeerCert, 0, len(chain))
	for _, c := range chain {
		out = append(out, DescribeCert(c))
	}
	return out
}
