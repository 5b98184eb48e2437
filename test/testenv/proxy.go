package testenv

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
	// record keeps the MySQL statements clients send, per connection.
	record bool
	stmts  [][]string
}

// Record makes the proxy keep every SQL statement a MySQL client sends
// through it (COM_QUERY and COM_STMT_PREPARE), for tests of what a
// component says to a server.
func (p *Proxy) Record() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record = true
}

// Statements returns the statements recorded so far, one list per
// connection in the order they were sent.
func (p *Proxy) Statements() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]string, len(p.stmts))
	for i, c := range p.stmts {
		out[i] = append([]string(nil), c...)
	}
	return out
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
		record := p.record
		idx := len(p.stmts)
		if record {
			p.stmts = append(p.stmts, nil)
		}
		p.mu.Unlock()
		if record {
			r, w := io.Pipe()
			go p.parse(idx, r)
			go func() { pipe(s, io.TeeReader(c, w)); _ = c.Close(); _ = w.Close() }()
		} else {
			go pipe(s, c)
		}
		go pipe(c, s)
	}
}

// parse reads the client's side of a MySQL connection: packets of a
// 3-byte length and a sequence number; a command is a packet with
// sequence 0, and COM_QUERY (3) and COM_STMT_PREPARE (22) carry SQL.
func (p *Proxy) parse(idx int, r io.Reader) {
	head := make([]byte, 4)
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			_, _ = io.Copy(io.Discard, r)
			return
		}
		n := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			_, _ = io.Copy(io.Discard, r)
			return
		}
		if head[3] == 0 && n > 0 && (body[0] == 3 || body[0] == 22) {
			p.mu.Lock()
			p.stmts[idx] = append(p.stmts[idx], string(body[1:]))
			p.mu.Unlock()
		}
	}
}

// pipe copies from b to a until either side closes, then closes both.
func pipe(a net.Conn, b io.Reader) {
	_, _ = io.Copy(a, b)
	_ = a.Close()
	if c, ok := b.(io.Closer); ok {
		_ = c.Close()
	}
}
