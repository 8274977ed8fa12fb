package live_test

import (
	"net"
	"testing"

	"k8s.io/client-go/rest"
)

// hangingListener accepts connections and never answers, like a cluster
// behind a black-holing firewall.
func hangingListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func restConfigFor(host string) *rest.Config {
	return &rest.Config{Host: host, BearerToken: "t", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}
