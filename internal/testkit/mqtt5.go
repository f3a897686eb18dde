package testkit

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// V5 is an MQTT 5 connection made with paho.golang.
type V5 struct {
	*paho.Client
	// Conn is the network connection, to drop it without a DISCONNECT.
	Conn net.Conn
	// Connack is the server's answer to CONNECT.
	Connack *paho.Connack
	// Disconnects receives the DISCONNECT packets the server sends.
	Disconnects chan *paho.Disconnect
	// Received receives the messages delivered to the client.
	Received chan *paho.Publish
}

// DialV5 connects an MQTT 5 client to addr over TCP; edit may change the
// CONNECT (a will, properties). It returns the CONNACK's error, with the
// connection (and its Connack) when the server answered.
func DialV5(t testing.TB, addr string, c Creds, edit func(*paho.Connect)) (*V5, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return DialV5Conn(t, conn, c, edit)
}

// DialV5Conn is DialV5 over an established connection (TLS, WebSocket).
func DialV5Conn(t testing.TB, conn net.Conn, c Creds, edit func(*paho.Connect)) (*V5, error) {
	t.Helper()
	v := &V5{Conn: conn, Disconnects: make(chan *paho.Disconnect, 4), Received: make(chan *paho.Publish, 64)}
	v.Client = paho.NewClient(paho.ClientConfig{
		Conn:               conn,
		OnServerDisconnect: func(d *paho.Disconnect) { v.Disconnects <- d },
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			select {
			case v.Received <- r.Packet:
			default:
			}
			return true, nil
		}},
	})
	cp := &paho.Connect{
		ClientID: fmt.Sprintf("%s-v5-%d", c.ID, time.Now().UnixNano()), CleanStart: true, KeepAlive: 30,
		Username: c.Username, UsernameFlag: c.Username != "", Password: []byte(c.Password), PasswordFlag: c.Password != "",
	}
	if edit != nil {
		edit(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ca, err := v.Connect(ctx, cp)
	v.Connack = ca
	if err != nil {
		conn.Close()
		return v, err
	}
	t.Cleanup(func() {
		_ = v.Disconnect(&paho.Disconnect{})
		select {
		case <-v.Done():
		case <-time.After(5 * time.Second):
		}
	})
	return v, nil
}

// ConnackCode is the reason code of a CONNACK, or -1 when there was none.
func (v *V5) ConnackCode() int {
	if v == nil || v.Connack == nil {
		return -1
	}
	return int(v.Connack.ReasonCode)
}
