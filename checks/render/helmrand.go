package render

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"sync"
	"time"
)

// helmEpoch is what `now` returns in a chart: a rendering that depended on
// the clock would differ between base and head (and from the render cache)
// with nobody having changed anything.
var helmEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// helmRand makes the random functions of Helm's templates (randAlphaNum,
// uuidv4, genPrivateKey, ...) deterministic: a chart that generates a
// password or a key renders the same text at base and head, so a diff never
// shows noise nobody wrote. The output depends on the release (name,
// namespace, chart name and version) and on the call: the n-th call of a
// function with the same arguments in one render. It is not secret and
// must never be: gate renders to check, never to apply.
type helmRand struct {
	// ctx stops key generation past the render deadline (an abandoned
	// render must not keep generating keys in a template loop).
	ctx  context.Context
	seed [32]byte
	mu   sync.Mutex
	// calls counts calls per function and arguments.
	calls map[string]int
}

func newHelmRand(ctx context.Context, release, namespace, chart, version string) *helmRand {
	return &helmRand{
		ctx:   ctx,
		seed:  sha256.Sum256([]byte("gate-helm-rand/1\x00" + release + "\x00" + namespace + "\x00" + chart + "\x00" + version)),
		calls: map[string]int{},
	}
}

// stream returns the generator for one call of fn with args.
func (h *helmRand) stream(fn string, args ...any) *rand.ChaCha8 {
	key := fmt.Sprintf("%s\x00%v", fn, args)
	h.mu.Lock()
	n := h.calls[key]
	h.calls[key] = n + 1
	h.mu.Unlock()
	m := sha256.New()
	m.Write(h.seed[:])
	fmt.Fprintf(m, "%s\x00%d", key, n)
	var s [32]byte
	copy(s[:], m.Sum(nil))
	return rand.NewChaCha8(s)
}

const (
	alphaChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	alphaNumChars = alphaChars + "0123456789"
	numericChars  = "0123456789"
)

// str is n characters of set (or printable ASCII when set is "").
func (h *helmRand) str(fn, set string, n int) string {
	if n <= 0 {
		return ""
	}
	r := rand.New(h.stream(fn, n))
	b := make([]byte, n)
	for i := range b {
		if set == "" {
			b[i] = byte(32 + r.IntN(95))
		} else {
			b[i] = set[r.IntN(len(set))]
		}
	}
	return string(b)
}

func (h *helmRand) randInt(lo, hi int) int {
	if hi <= lo {
		// sprig's rand.Intn panics here: keep the error a template error.
		panic(fmt.Sprintf("randInt: max %d must be greater than min %d", hi, lo))
	}
	return lo + rand.New(h.stream("randInt", lo, hi)).IntN(hi-lo)
}

func (h *helmRand) randBytes(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, n)
	_, _ = h.stream("randBytes", n).Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func (h *helmRand) uuidv4() string {
	var b [16]byte
	_, _ = h.stream("uuidv4").Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (h *helmRand) shuffle(s string) string {
	rs := []rune(s)
	rand.New(h.stream("shuffle", s)).Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	return string(rs)
}

// genPrivateKey is sprig's genPrivateKey (same key types, sizes and PEM
// blocks) with keys derived from the call's stream.
func (h *helmRand) genPrivateKey(typ string) (string, error) {
	if err := h.ctx.Err(); err != nil {
		return "", fmt.Errorf("genPrivateKey: render deadline passed: %w", err)
	}
	return h.genPrivateKeyText(typ), nil
}

func (h *helmRand) genPrivateKeyText(typ string) string {
	st := h.stream("genPrivateKey", typ)
	var block *pem.Block
	switch typ {
	case "", "rsa":
		k, err := deterministicRSA(st, 4096)
		if err != nil {
			return "failed to generate private key: " + err.Error()
		}
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case "ecdsa":
		k, err := deterministicP256(st)
		if err != nil {
			return "failed to generate private key: " + err.Error()
		}
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "failed to generate private key: " + err.Error()
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
	case "ed25519":
		var seed [ed25519.SeedSize]byte
		_, _ = st.Read(seed[:])
		b, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
		if err != nil {
			return "failed to generate private key: " + err.Error()
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	case "dsa":
		// DSA is deprecated in Go and has no deterministic generator here.
		return "gate renders genPrivateKey \"dsa\" as this placeholder: DSA keys cannot be generated deterministically"
	default:
		return "Unknown type " + typ
	}
	return string(pem.EncodeToMemory(block))
}

// deterministicP256 derives a P-256 key from the stream.
func deterministicP256(st *rand.ChaCha8) (*ecdsa.PrivateKey, error) {
	n := elliptic.P256().Params().N
	for range 100 {
		var d [32]byte
		_, _ = st.Read(d[:])
		v := new(big.Int).SetBytes(d[:])
		if v.Sign() > 0 && v.Cmp(n) < 0 {
			return ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
		}
	}
	return nil, fmt.Errorf("no P-256 scalar found")
}

// smallPrimes sieve candidates before the Miller-Rabin rounds.
var smallPrimes = func() []uint64 {
	var ps []uint64
	for i := uint64(3); i < 2000; i += 2 {
		prime := true
		for _, p := range ps {
			if p*p > i {
				break
			}
			if i%p == 0 {
				prime = false
				break
			}
		}
		if prime {
			ps = append(ps, i)
		}
	}
	return ps
}()

// deterministicPrime draws a bits-long prime (top two bits set, so the
// product of two has exactly 2*bits bits) from the stream: a random odd
// start, then the next candidate that no small prime divides (residues
// kept incrementally) and that passes Baillie-PSW. The key is a rendered
// placeholder, never used for security.
func deterministicPrime(st *rand.ChaCha8, bits int) *big.Int {
	buf := make([]byte, bits/8)
	_, _ = st.Read(buf)
	buf[0] |= 0xc0
	buf[len(buf)-1] |= 1
	start := new(big.Int).SetBytes(buf)
	res := make([]uint64, len(smallPrimes))
	m := new(big.Int)
	for i, sp := range smallPrimes {
		res[i] = m.Mod(start, new(big.Int).SetUint64(sp)).Uint64()
	}
	cand := new(big.Int)
	for delta := uint64(0); ; delta += 2 {
		ok := true
		for i, sp := range smallPrimes {
			if (res[i]+delta)%sp == 0 {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		cand.Add(start, new(big.Int).SetUint64(delta))
		if cand.BitLen() == bits && cand.ProbablyPrime(0) {
			return cand
		}
	}
}

// deterministicRSA builds an RSA key of bits from the stream (crypto/rsa
// ignores a caller's randomness source).
func deterministicRSA(st *rand.ChaCha8, bits int) (*rsa.PrivateKey, error) {
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for range 100 {
		p := deterministicPrime(st, bits/2)
		q := deterministicPrime(st, bits/2)
		if p.Cmp(q) == 0 {
			continue
		}
		if p.Cmp(q) < 0 {
			p, q = q, p
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537},
			D:         d,
			Primes:    []*big.Int{p, q},
		}
		if err := k.Validate(); err != nil {
			return nil, err
		}
		k.Precompute()
		return k, nil
	}
	return nil, fmt.Errorf("no RSA key found")
}

// funcs are the deterministic replacements, for Helm's CustomTemplateFuncs.
func (h *helmRand) funcs() map[string]any {
	m := map[string]any{
		"randInt":       h.randInt,
		"uuidv4":        h.uuidv4,
		"shuffle":       h.shuffle,
		"genPrivateKey": h.genPrivateKey,
		"now":           func() time.Time { return helmEpoch },
	}
	maps.Copy(m, h.certFuncs())
	return m
}
