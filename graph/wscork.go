package graph

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// corkedConn is a hijacked websocket connection whose writes can be held
// back in memory while a feed member writes several queued events, and then
// go out in one write. The websocket library flushes every message with
// its own write system call; a subscriber that has fallen behind by n
// events now costs one system call instead of n, which is when catching up
// matters. Writes of other goroutines (pings, other operations) made while
// it is corked join the same batch, in the order the library wrote them.
type corkedConn struct {
	net.Conn
	mu    sync.Mutex
	corks int    // writers holding writes back
	held  []byte // what they held back
}

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corks > 0 {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork holds back writes until the matching uncork.
func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corks++
	c.mu.Unlock()
}

// maxHeldCapacity is the largest buffer a connection keeps between
// batches; a larger one (a long catch-up) is left to the collector, so that
// a thousand idle connections do not each keep their largest batch.
const maxHeldCapacity = 16 << 10

// uncork ends one cork; the last one writes what was held back.
func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corks--
	if c.corks > 0 || len(c.held) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.held)
	if cap(c.held) > maxHeldCapacity {
		c.held = nil
	} else {
		c.held = c.held[:0]
	}
	return err
}

// corkingWriter hands the websocket library a corkedConn when it hijacks
// the request's connection, and keeps it for the websocket connection.
type corkingWriter struct {
	http.ResponseWriter
	conn *corkedConn
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	if err := brw.Writer.Flush(); err != nil {
		return conn, brw, err
	}
	w.conn = &corkedConn{Conn: conn}
	brw.Writer.Reset(w.conn)
	return w.conn, brw, nil
}

// Unwrap lets http.ResponseController reach the writer's other abilities.
func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
