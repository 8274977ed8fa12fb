package render

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"time"
)

// helmCert is what sprig's certificate functions return: templates read
// .Cert and .Key (PEM).
type helmCert struct {
	Cert string
	Key  string
}

// The certificate functions of sprig (genCA, genSelfSignedCert,
// genSignedCert and their WithKey forms), deterministic like the rest of
// helmRand: keys (RSA 2048, as sprig) and serial numbers come from the
// call's stream, validity starts at helmEpoch, and RSA signatures need no
// randomness. A WithKey form given an ECDSA or Ed25519 key signs with it
// (ECDSA signatures stay random).

func (h *helmRand) certKey(st *rand.ChaCha8, keyPEM string) (crypto.Signer, error) {
	if err := h.ctx.Err(); err != nil {
		return nil, fmt.Errorf("certificate: render deadline passed: %w", err)
	}
	if keyPEM == "" {
		return deterministicRSA(st, 2048)
	}
	blk, _ := pem.Decode([]byte(keyPEM))
	if blk == nil {
		return nil, errors.New("no PEM data in the private key")
	}
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}

func certTemplate(st *rand.ChaCha8, cn string, ips, dns []any, days int) (*x509.Certificate, error) {
	var serial [16]byte
	_, _ = st.Read(serial[:])
	t := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial[:]),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             helmEpoch,
		NotAfter:              helmEpoch.Add(24 * time.Hour * time.Duration(days)),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	for _, v := range ips {
		s, ok := v.(string)
		ip := net.ParseIP(s)
		if !ok || ip == nil {
			return nil, fmt.Errorf("error parsing ip: %v", v)
		}
		t.IPAddresses = append(t.IPAddresses, ip)
	}
	for _, v := range dns {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("error processing alternate dns name: %v", v)
		}
		t.DNSNames = append(t.DNSNames, s)
	}
	return t, nil
}

func encodeCert(der []byte, key crypto.Signer) (helmCert, error) {
	var kb *pem.Block
	switch k := key.(type) {
	case *rsa.PrivateKey:
		kb = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	default:
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return helmCert{}, err
		}
		kb = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	}
	return helmCert{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:  string(pem.EncodeToMemory(kb)),
	}, nil
}

func (h *helmRand) genCA(fn, cn string, days int, keyPEM string) (helmCert, error) {
	st := h.stream(fn, cn, days, keyPEM)
	key, err := h.certKey(st, keyPEM)
	if err != nil {
		return helmCert{}, err
	}
	t, err := certTemplate(st, cn, nil, nil, days)
	if err != nil {
		return helmCert{}, err
	}
	t.KeyUsage |= x509.KeyUsageCertSign
	t.IsCA = true
	der, err := x509.CreateCertificate(st, t, t, key.Public(), key)
	if err != nil {
		return helmCert{}, fmt.Errorf("error generating certificate: %w", err)
	}
	return encodeCert(der, key)
}

func (h *helmRand) genSelfSigned(fn, cn string, ips, dns []any, days int, keyPEM string) (helmCert, error) {
	st := h.stream(fn, cn, ips, dns, days, keyPEM)
	key, err := h.certKey(st, keyPEM)
	if err != nil {
		return helmCert{}, err
	}
	t, err := certTemplate(st, cn, ips, dns, days)
	if err != nil {
		return helmCert{}, err
	}
	der, err := x509.CreateCertificate(st, t, t, key.Public(), key)
	if err != nil {
		return helmCert{}, fmt.Errorf("error generating certificate: %w", err)
	}
	return encodeCert(der, key)
}

func (h *helmRand) genSigned(fn, cn string, ips, dns []any, days int, ca helmCert, keyPEM string) (helmCert, error) {
	st := h.stream(fn, cn, ips, dns, days, ca.Cert, keyPEM)
	cb, _ := pem.Decode([]byte(ca.Cert))
	if cb == nil {
		return helmCert{}, errors.New("error decoding CA certificate")
	}
	caCert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return helmCert{}, fmt.Errorf("error parsing CA certificate: %w", err)
	}
	caKey, err := h.certKey(st, ca.Key)
	if err != nil {
		return helmCert{}, fmt.Errorf("CA key: %w", err)
	}
	key, err := h.certKey(st, keyPEM)
	if err != nil {
		return helmCert{}, err
	}
	t, err := certTemplate(st, cn, ips, dns, days)
	if err != nil {
		return helmCert{}, err
	}
	der, err := x509.CreateCertificate(st, t, caCert, key.Public(), caKey)
	if err != nil {
		return helmCert{}, fmt.Errorf("error generating certificate: %w", err)
	}
	return encodeCert(der, key)
}

// certFuncs are the deterministic certificate functions.
func (h *helmRand) certFuncs() map[string]any {
	return map[string]any{
		"genCA": func(cn string, days int) (helmCert, error) { return h.genCA("genCA", cn, days, "") },
		"genCAWithKey": func(cn string, days int, key string) (helmCert, error) {
			return h.genCA("genCAWithKey", cn, days, key)
		},
		"genSelfSignedCert": func(cn string, ips, dns []any, days int) (helmCert, error) {
			return h.genSelfSigned("genSelfSignedCert", cn, ips, dns, days, "")
		},
		"genSelfSignedCertWithKey": func(cn string, ips, dns []any, days int, key string) (helmCert, error) {
			return h.genSelfSigned("genSelfSignedCertWithKey", cn, ips, dns, days, key)
		},
		"genSignedCert": func(cn string, ips, dns []any, days int, ca helmCert) (helmCert, error) {
			return h.genSigned("genSignedCert", cn, ips, dns, days, ca, "")
		},
		"genSignedCertWithKey": func(cn string, ips, dns []any, days int, ca helmCert, key string) (helmCert, error) {
			return h.genSigned("genSignedCertWithKey", cn, ips, dns, days, ca, key)
		},
	}
}
