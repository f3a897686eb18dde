package broker

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/medbiz/medbiz/registry"
)

func TestACL(t *testing.T) {
	h := &authHook{}
	dev := registry.Principal{Kind: registry.KindDevice, Farm: "f1", ID: "d1", Patient: "p1"}
	cg := registry.Principal{Kind: registry.KindCaregiver, Farm: "f1", ID: "c1", Patients: []string{"p1", "p2"}}
	h.principals.Store("dev.f1.d1", dev)
	h.principals.Store("cg.f1.c1", cg)
	client := func(user string) *mqtt.Client {
		cl := &mqtt.Client{}
		cl.Properties.Username = []byte(user)
		return cl
	}
	cases := []struct {
		user, topic string
		write, want bool
	}{
		{"dev.f1.d1", "farms/f1/devices/d1/telemetry", true, true},
		{"dev.f1.d1", "farms/f1/devices/d1/status", true, true},
		{"dev.f1.d1", "farms/f1/devices/d1/errors", false, true},
		{"dev.f1.d1", "farms/f1/devices/d1/errors", true, false},
		{"dev.f1.d1", "farms/f1/devices/d1/telemetry", false, false},
		{"dev.f1.d1", "farms/f1/devices/d2/telemetry", true, false},
		{"dev.f1.d1", "farms/f2/devices/d1/telemetry", true, false},
		{"dev.f1.d1", "farms/f1/devices/+/telemetry", false, false},
		{"dev.f1.d1", "farms/+/devices/d1/errors", false, false},
		{"dev.f1.d1", "farms/#", false, false},
		{"dev.f1.d1", "farms/f1/alerts/p1", false, false},
		{"cg.f1.c1", "farms/f1/alerts/p1", false, true},
		{"cg.f1.c1", "farms/f1/alerts/+", false, true},
		{"cg.f1.c1", "farms/f1/alerts/p3", false, false},
		{"cg.f1.c1", "farms/f1/alerts/#", false, false},
		{"cg.f1.c1", "farms/f2/alerts/p1", false, false},
		{"cg.f1.c1", "farms/+/alerts/p1", false, false},
		{"cg.f1.c1", "farms/f1/alerts/p1/a-1/ack", true, true},
		{"cg.f1.c1", "farms/f1/alerts/p3/a-1/ack", true, false},
		{"cg.f1.c1", "farms/f1/alerts/p1", true, false},
		{"cg.f1.c1", "farms/f1/devices/d1/telemetry", true, false},
		{"cg.f1.c1", "farms/f1/devices/d1/errors", false, false},
		{"nobody", "farms/f1/devices/d1/telemetry", true, false},
	}
	for _, tc := range cases {
		if got := h.OnACLCheck(client(tc.user), tc.topic, tc.write); got != tc.want {
			t.Errorf("%s write=%v %s: %v, want %v", tc.user, tc.write, tc.topic, got, tc.want)
		}
	}
}

func TestParseTopic(t *testing.T) {
	cases := map[string]topic{
		"farms/f1/devices/d1/telemetry":  {kind: topicTelemetry, farm: "f1", device: "d1"},
		"farms/f1/devices/d1/status":     {kind: topicStatus, farm: "f1", device: "d1"},
		"farms/f1/alerts/p1":             {kind: topicAlerts, farm: "f1", patient: "p1"},
		"farms/f1/alerts/p1/a1/ack":      {kind: topicAck, farm: "f1", patient: "p1", alertID: "a1"},
		"farms/f1/alerts/+/a1/ack":       {},
		"farms/f1/devices/d1/telemetry/": {},
		"farms//devices/d1/telemetry":    {},
		"farm/f1/devices/d1/telemetry":   {},
		"farms/f1/devices/d1":            {},
		"":                               {},
	}
	for in, want := range cases {
		if got := parseTopic(in); got != want {
			t.Errorf("parseTopic(%q) = %+v, want %+v", in, got, want)
		}
	}
}
