package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Shutdown closes a mochi server and every client. mochi v2.7.9's own
// Close can deadlock: its Clients.GetByListener takes the clients' read
// lock and, holding it, takes it again (Len), so a client disconnecting at
// that moment (Delete, waiting for the write lock) blocks both for good.
// A listener calls its client closer only once, so closing the listeners
// first with a closer that reads the clients under one lock (GetAll) leaves
// Close nothing to deadlock on. CloseAll returns once every client's
// goroutine has ended.
func Shutdown(srv *mqtt.Server) error {
	srv.Listeners.CloseAll(func(listener string) {
		for _, cl := range srv.Clients.GetAll() {
			if cl.Net.Listener == listener && !cl.Closed() {
				_ = srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	})
	return srv.Close()
}
