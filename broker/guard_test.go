package broker

import (
	"net/http"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/medbiz/medbiz/registry"
)

func TestGuardKeepsRetainOnlyOnOwnStatus(t *testing.T) {
	auth := &authHook{}
	auth.principals.Store("dev.f1.d1", registry.Principal{Kind: registry.KindDevice, Farm: "f1", ID: "d1", Patient: "p1"})
	auth.principals.Store("cg.f1.c1", registry.Principal{Kind: registry.KindCaregiver, Farm: "f1", ID: "c1", Patients: []string{"p1"}})
	g := &guardHook{auth: auth}
	cases := []struct {
		user, topic string
		keep        bool
	}{
		{"dev.f1.d1", "farms/f1/devices/d1/status", true},
		{"dev.f1.d1", "farms/f1/devices/d1/telemetry", false},
		{"dev.f1.d1", "farms/f1/devices/d2/status", false},
		{"dev.f1.d1", "farms/f1/alerts/p1", false},
		{"dev.f1.d1", "junk/1", false},
		{"cg.f1.c1", "farms/f1/devices/d1/status", false},
		{"cg.f1.c1", "farms/f1/alerts/p1/a1/ack", false},
		{"dev.f9.nobody", "farms/f9/devices/nobody/status", false},
	}
	for _, tc := range cases {
		cl := &mqtt.Client{}
		cl.Properties.Username = []byte(tc.user)
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: tc.topic, Payload: []byte("x")}
		out, err := g.OnPacketRead(cl, pk)
		if err != nil || out.FixedHeader.Retain != tc.keep {
			t.Errorf("%s retained on %s: kept %v (%v), want %v", tc.user, tc.topic, out.FixedHeader.Retain, err, tc.keep)
		}
	}
}

func TestWebSocketOrigins(t *testing.T) {
	cases := []struct {
		allowed []string
		host    string
		origin  string
		want    bool
	}{
		{nil, "mqtt.example.com:8083", "", true},
		{nil, "mqtt.example.com:8083", "https://mqtt.example.com:8083", true},
		{nil, "mqtt.example.com:8083", "https://MQTT.example.com:8083", true},
		{nil, "mqtt.example.com:8083", "https://evil.example.net", false},
		{nil, "mqtt.example.com:8083", "null", false},
		{[]string{"https://app.example.com"}, "mqtt.example.com:8083", "https://app.example.com", true},
		{[]string{"https://app.example.com/"}, "mqtt.example.com:8083", "https://App.example.com", true},
		{[]string{"https://app.example.com"}, "mqtt.example.com:8083", "http://app.example.com", false},
		{[]string{"https://app.example.com"}, "mqtt.example.com:8083", "https://mqtt.example.com:8083", false},
		{[]string{"https://app.example.com"}, "mqtt.example.com:8083", "", true},
		{[]string{"*"}, "mqtt.example.com:8083", "https://anything.example.org", true},
	}
	for _, tc := range cases {
		r := &http.Request{Host: tc.host, Header: http.Header{}}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := originChecker(tc.allowed)(r); got != tc.want {
			t.Errorf("allowed %v, host %s, origin %q: %v, want %v", tc.allowed, tc.host, tc.origin, got, tc.want)
		}
	}
}
