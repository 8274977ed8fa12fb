package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// SignatureHeader carries GitHub's HMAC-SHA256 of the raw webhook body.
const SignatureHeader = "X-Hub-Signature-256"

// Errors VerifySignature returns; all of them mean 401 and nothing runs.
var (
	ErrNoSignature  = errors.New("webhook has no X-Hub-Signature-256 header")
	ErrBadSignature = errors.New("webhook signature does not match the body")
)

// Sign returns the X-Hub-Signature-256 value GitHub sends for body:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a delivery's X-Hub-Signature-256 against the raw
// body in constant time. The legacy SHA-1 header is not accepted.
func VerifySignature(header string, body, secret []byte) error {
	if header == "" {
		return ErrNoSignature
	}
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return ErrBadSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
