package broker

import (
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/medbiz/medbiz/registry"
)

// guardHook applies the MQTT rules that mochi leaves to the server, on
// each PUBLISH as it is read, before mochi processes it (so every later
// step, hooks included, sees the packet as the rules left it):
//
//   - A publish to a topic no client may publish to ($SYS/…, $share/…) is
//     answered, where mochi would drop it without a word and leave a QoS 1
//     client waiting for its PUBACK: MQTT 5 gets PUBACK (or PUBREC)
//     "not authorized" (0x87) and stays connected, MQTT 3.1.1, which has
//     no negative acknowledgement, is disconnected, as mochi does for any
//     other publish the ACL refuses.
//   - The retain flag is kept only on a device's own status topic, so no
//     client can put anything else into the retained store, whatever a
//     later hook answers.
type guardHook struct {
	mqtt.HookBase
	srv  *mqtt.Server
	auth *authHook
	log  *slog.Logger
}

func (h *guardHook) ID() string { return "medbiz-guard" }

func (h *guardHook) Provides(b byte) bool { return b == mqtt.OnPacketRead }

// OnPacketRead runs in the client's read goroutine for every packet. An
// error other than packets.ErrRejectPacket is ignored by mochi, and
// ErrRejectPacket closes the connection.
func (h *guardHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	if pk.TopicName != "" && !mqtt.IsValidFilter(pk.TopicName, true) {
		return pk, h.forbidden(cl, pk)
	}
	if pk.FixedHeader.Retain && !h.ownStatus(cl, pk.TopicName) {
		pk.FixedHeader.Retain = false
	}
	return pk, nil
}

// forbidden answers a publish to a topic reserved to the server.
func (h *guardHook) forbidden(cl *mqtt.Client, pk packets.Packet) error {
	h.log.Info("publish to a reserved topic refused", "client", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos)
	if pk.FixedHeader.Qos == 0 {
		return nil // mochi drops it; there is nobody to answer
	}
	if cl.Properties.ProtocolVersion != 5 {
		cl.Stop(packets.ErrNotAuthorized)
		return packets.ErrRejectPacket
	}
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    pk.PacketID,
		ReasonCode:  packets.ErrNotAuthorized.Code,
		Properties:  packets.Properties{ReasonString: "publishing to " + pk.TopicName + " is not allowed"},
	}
	if pk.FixedHeader.Qos == 2 {
		ack.FixedHeader.Type = packets.Pubrec
	}
	if err := cl.WritePacket(ack); err != nil {
		h.log.Debug("refusal not written", "client", cl.ID, "error", err)
	}
	return nil
}

// ownStatus reports whether topic is the connected device's status topic.
func (h *guardHook) ownStatus(cl *mqtt.Client, topic string) bool {
	p, ok := h.auth.principal(cl)
	return ok && p.Kind == registry.KindDevice && topic == statusTopic(p.Farm, p.ID)
}
