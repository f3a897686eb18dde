package broker

import (
	"context"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiLogger is the logger handed to mochi: only its errors pass (it logs
// every dropped connection as a warning; medbiz's own hooks report what
// matters), and no packet reaches the log whole.
func mochiLogger(base *slog.Logger) *slog.Logger {
	return slog.New(minLevel{redactPackets{base.With("component", "mochi").Handler()}, slog.LevelError})
}

// minLevel drops records below a level before the wrapped handler sees them.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// redactPackets replaces every MQTT packet or will in a record by a
// summary without its payload or password. mochi logs whole packets (for
// example every publish a hook answers with a reason code, at ERROR), and
// a device's payload is health data: it belongs in the stream, never in a
// log file.
type redactPackets struct{ slog.Handler }

func (h redactPackets) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactPackets) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redact(a)
	}
	return redactPackets{h.Handler.WithAttrs(red)}
}

func (h redactPackets) WithGroup(n string) slog.Handler { return redactPackets{h.Handler.WithGroup(n)} }

// redact summarises packets and wills, looking inside groups.
func redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = redact(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case packets.Packet:
			return packetSummary(a.Key, &x)
		case *packets.Packet:
			if x != nil {
				return packetSummary(a.Key, x)
			}
		case mqtt.Will:
			return slog.Group(a.Key, "topic", x.TopicName, "qos", x.Qos, "retain", x.Retain, "payload_bytes", len(x.Payload))
		case *mqtt.Will:
			if x != nil {
				return slog.Group(a.Key, "topic", x.TopicName, "qos", x.Qos, "retain", x.Retain, "payload_bytes", len(x.Payload))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func packetSummary(key string, pk *packets.Packet) slog.Attr {
	return slog.Group(key,
		"type", packets.PacketNames[pk.FixedHeader.Type], "topic", pk.TopicName, "id", pk.PacketID,
		"qos", pk.FixedHeader.Qos, "retain", pk.FixedHeader.Retain, "payload_bytes", len(pk.Payload))
}
