package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestMochiLoggerRedactsPackets(t *testing.T) {
	var buf bytes.Buffer
	log := mochiLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "farms/f1/devices/d1/telemetry",
		PacketID: 7, Payload: []byte(`{"spo2": 81.5}`),
		Connect: packets.ConnectParams{Password: []byte("pw-secret")},
	}
	will := mqtt.Will{TopicName: "junk", Payload: []byte("will-secret")}
	log.Error("publish packet error", "packet", pk, "pk", &pk, "will", will)
	log.With("ctx", pk).Error("with", slog.Group("g", "inner", &will))
	log.Warn("dropped below error", "packet", pk)
	out := buf.String()
	for _, secret := range []string{"81.5", "pw-secret", "will-secret", "56 49 46 53"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"packet.topic=farms/f1/devices/d1/telemetry", "packet.payload_bytes=14", "pk.id=7", "will.topic=junk", "g.inner.payload_bytes=11", "ctx.type=Publish"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dropped below error") {
		t.Error("a mochi warning passed")
	}
}
