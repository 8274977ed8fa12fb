package app

import (
	"errors"
	"testing"
)

// The vector is GitHub Docs' "Testing the webhook payload validation".
func TestVerifySignature(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	const body = "Hello, World!"
	const sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := Sign([]byte(secret), []byte(body)); got != sig {
		t.Fatalf("Sign = %s, want GitHub's %s", got, sig)
	}
	cases := []struct {
		name   string
		header string
		body   string
		secret string
		want   error
	}{
		{"github docs vector", sig, body, secret, nil},
		{"wrong secret", sig, body, "It's a secret to everybody", ErrBadSignature},
		{"tampered body", sig, "Hello, World?", secret, ErrBadSignature},
		{"no header", "", body, secret, ErrNoSignature},
		{"legacy sha1 header", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", body, secret, ErrBadSignature},
		{"not hex", "sha256=zz", body, secret, ErrBadSignature},
		{"truncated", sig[:40], body, secret, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.header, []byte(tc.body), []byte(tc.secret))
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}
