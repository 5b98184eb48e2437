package source

// arena hands out copies of values from large shared chunks: one
// allocation per 64 KiB of a page instead of one per value.
type arena struct {
	buf     []byte
	scratch []byte // for values rendered before they are copied
}

const arenaChunk = 64 << 10

func (a *arena) copy(b []byte) []byte {
	if len(b) > arenaChunk/4 {
		return append(make([]byte, 0, len(b)), b...)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
