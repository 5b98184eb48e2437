package testutil

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a real server and can be taken down
// and brought back: a target that goes away and returns, without stopping
// the shared MariaDB other tests use.
type Proxy struct {
	Addr   string
	to     string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]bool
	closed bool
}

// NewProxy returns a proxy to addr on a fresh local port, down until Up.
func NewProxy(t testing.TB, to string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), to: to, conns: map[net.Conn]bool{}}
	_ = l.Close() // down: connections to Addr are refused
	t.Cleanup(func() {
		p.Down()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
	})
	return p
}

// Up starts forwarding.
func (p *Proxy) Up(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		return
	}
	l, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatalf("proxy up: %v", err)
	}
	p.l = l
	go p.serve(l)
}

// Down refuses new connections and cuts the open ones.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		_ = p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *Proxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		go pipe(c, s)
		go pipe(s, c)
	}
}

func pipe(a, b net.Conn) {
	_, _ = io.Copy(a, b)
	_ = a.Close()
	_ = b.Close()
}
