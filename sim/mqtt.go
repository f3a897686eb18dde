package sim

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Topics of the device and caregiver contract (docs/contract.md#device-topics,
// docs/contract.md#caregiver-topics).
func TelemetryTopic(farm, device string) string {
	return "farms/" + farm + "/devices/" + device + "/telemetry"
}

func StatusTopic(farm, device string) string {
	return "farms/" + farm + "/devices/" + device + "/status"
}

func AlertTopic(farm, patient string) string { return "farms/" + farm + "/alerts/" + patient }

// deviceConn is a paho client that keeps hold of its socket so the
// simulator can drop the connection without sending DISCONNECT; only then
// does the broker publish the device's will.
type deviceConn struct {
	client mqtt.Client
	mu     sync.Mutex
	raw    net.Conn
}

// kill closes the socket under the client, as a device losing power or
// network would.
func (d *deviceConn) kill() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.raw == nil {
		return nil
	}
	err := d.raw.Close()
	d.raw = nil
	return err
}

type clientOpts struct {
	broker   string
	clientID string
	login    Login
	will     string // status topic for the will; empty for none
	onLost   func(error)
}

// dial connects one MQTT 3.1.1 client (paho.mqtt.golang) with a clean
// session and no automatic reconnect: a simulated device that loses its
// connection stays offline, which is what a scenario wants to observe.
func dial(ctx context.Context, o clientOpts) (*deviceConn, error) {
	dc := &deviceConn{}
	opts := mqtt.NewClientOptions().
		AddBroker(o.broker).
		SetClientID(o.clientID).
		SetUsername(o.login.Username).
		SetPassword(o.login.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		// Generous keep-alive and ping timeouts: a replay at full speed
		// can starve a two-core machine, and a ping answered late must not
		// look like an outage.
		SetKeepAlive(60 * time.Second).
		SetPingTimeout(30 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", u.Host)
			if err != nil {
				return nil, err
			}
			dc.mu.Lock()
			dc.raw = c
			dc.mu.Unlock()
			return c, nil
		})
	if o.will != "" {
		opts.SetWill(o.will, "offline", 1, true)
	}
	if o.onLost != nil {
		opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) { o.onLost(err) })
	}
	dc.client = mqtt.NewClient(opts)
	tok := dc.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, fmt.Errorf("connect %s: %w", o.clientID, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("connect %s as %q: %w", o.clientID, o.login.Username, err)
	}
	return dc, nil
}

// clientID picks the MQTT client id: the username when there is one (what
// an authenticating broker expects), else a name unique to the farm.
func clientID(l Login, farm, name string) string {
	if l.Username != "" {
		return l.Username
	}
	return "sim-" + farm + "-" + name
}
