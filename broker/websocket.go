package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener serves MQTT over WebSocket, over TLS when it has a TLS
// config. It replaces mochi's WebSocket listener, which accepts a browser
// page from any origin and cannot be told otherwise.
//
// Origins: a browser sends the page's origin with every WebSocket
// handshake. With no allowed origins configured, only pages served from
// the listener's own host may connect; "*" allows any; otherwise the
// origin must be one of the list (scheme://host[:port]). A handshake
// without an Origin header comes from a native client (a device, a mobile
// app), not from a page a browser was tricked into opening, and is
// allowed: it still has to log in like any MQTT client.
type wsListener struct {
	id       string
	ln       net.Listener
	tls      *tls.Config
	srv      *http.Server
	upgrader websocket.Upgrader

	log       *slog.Logger
	establish listeners.EstablishFn
	closeOnce sync.Once
}

var _ listeners.Listener = (*wsListener)(nil)

// newWSListener binds addr now, so Address reports the port in use.
func newWSListener(id, addr string, tlsCfg *tls.Config, origins []string) (*wsListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &wsListener{id: id, ln: ln, tls: tlsCfg}
	l.upgrader = websocket.Upgrader{Subprotocols: []string{"mqtt"}, CheckOrigin: originChecker(origins)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", l.handle)
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return l, nil
}

// originChecker allows a handshake by its Origin header as described on
// wsListener.
func originChecker(allowed []string) func(*http.Request) bool {
	set := map[string]bool{}
	for _, o := range allowed {
		set[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" || set["*"] {
			return true
		}
		if len(set) > 0 {
			return set[strings.ToLower(origin)]
		}
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
}

func (l *wsListener) ID() string      { return l.id }
func (l *wsListener) Address() string { return l.ln.Addr().String() }

func (l *wsListener) Protocol() string {
	if l.tls != nil {
		return "wss"
	}
	return "ws"
}

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	return nil
}

// Serve accepts connections until Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.establish = establish
	ln := l.ln
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err)
	}
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request) {
	c, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered (403 for a refused origin).
		l.log.Debug("websocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "error", err)
		return
	}
	defer c.Close()
	if err := l.establish(l.id, &wsConn{Conn: c.UnderlyingConn(), c: c}); err != nil {
		l.log.Debug("websocket client ended", "remote", r.RemoteAddr, "error", err)
	}
}

// Close stops accepting and closes the listener's clients.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.srv.Shutdown(ctx) // upgraded connections are not the server's: closeClients ends them
		_ = l.ln.Close()
		closeClients(l.id)
	})
}

// wsConn carries MQTT in binary WebSocket messages as a net.Conn (as
// mochi's own listener does).
type wsConn struct {
	net.Conn
	c *websocket.Conn
	r io.Reader // the message being read, if any
}

func (ws *wsConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if ws.r == nil {
			if n > 0 {
				return n, nil
			}
			op, r, err := ws.c.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, listeners.ErrInvalidMessage
			}
			ws.r = r
		}
		m, err := ws.r.Read(p[n:])
		n += m
		if err != nil {
			ws.r = nil
			if !errors.Is(err, io.EOF) {
				return n, err
			}
		}
	}
	return n, nil
}

func (ws *wsConn) Write(p []byte) (int, error) {
	if err := ws.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
