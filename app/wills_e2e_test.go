package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/app"
	"github.com/medbiz/medbiz/internal/testkit"
)

// retained lists the retained messages of the running broker, topic ->
// payload, with mochi's own $SYS ones (a fixed set it refreshes).
func retained(a *app.App) map[string]string {
	out := map[string]string{}
	for topic, pk := range a.Broker().Server().Topics.Retained.GetAll() {
		out[topic] = string(pk.Payload)
	}
	return out
}

const forgedSOS = `{"id":"forged","farm":"f2","patient":"q1","rule":"sos","severity":"critical","state":"active","message":"SOS"}`

// Wills other than a device's own "offline" status are refused at
// CONNECT, over MQTT 3.1.1 and 5, and nothing a client does grows the
// retained store or plants a message a later subscriber receives.
func TestWillsAndRetainedMessages(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	d1 := h.Device("f1", "d1", "p1", "sos_button")
	h.Device("f1", "d2", "p1", "thermometer")
	c1 := h.Caregiver("f1", "c1", "p1")
	h.Farm("f2")
	h.Patient("f2", "q1", "elderly", "")
	c2 := h.Caregiver("f2", "c2", "q1")
	before := retained(a)

	refused := []struct {
		name           string
		who            testkit.Creds
		topic, payload string
	}{
		{"another farm's alert topic", d1, "farms/f2/alerts/q1", forgedSOS},
		{"another device's status", d1, "farms/f1/devices/d2/status", "offline"},
		{"another device's errors", d1, "farms/f1/devices/d2/errors", `{"reason":"x"}`},
		{"$SYS", d1, "$SYS/broker/clients/connected", "0"},
		{"junk topic", d1, "junk/1", strings.Repeat("x", 65<<10)},
		{"own status, another payload", d1, "farms/f1/devices/d1/status", "online"},
		{"own telemetry", d1, "farms/f1/devices/d1/telemetry", `{"hr": 200}`},
		{"a caregiver's will on its alerts", c1, "farms/f1/alerts/p1", forgedSOS},
		{"a caregiver's will on a status", c1, "farms/f1/devices/d1/status", "offline"},
	}
	for _, tc := range refused {
		t.Run("v3 "+tc.name, func(t *testing.T) {
			_, err := testkit.DialMQTT(a.MQTTAddr(), tc.who, func(o *paho.ClientOptions) {
				o.SetWill(tc.topic, tc.payload, 1, true)
			})
			if err == nil || !strings.Contains(err.Error(), "not Authorized") {
				t.Errorf("will on %s: %v, want CONNACK return code 5 (not authorized)", tc.topic, err)
			}
		})
		t.Run("v5 "+tc.name, func(t *testing.T) {
			v, err := testkit.DialV5(t, a.MQTTAddr(), tc.who, func(c *paho5.Connect) {
				c.WillMessage = &paho5.WillMessage{Topic: tc.topic, Payload: []byte(tc.payload), QoS: 1, Retain: true}
			})
			if err == nil || v.ConnackCode() != 0x87 {
				t.Errorf("will on %s: CONNACK %#x (%v), want 0x87 not authorized", tc.topic, v.ConnackCode(), err)
			}
		})
	}

	// The one allowed will: the device's own status, "offline". The device
	// drops its connection without a DISCONNECT.
	v, err := testkit.DialV5(t, a.MQTTAddr(), d1, func(c *paho5.Connect) {
		c.WillMessage = &paho5.WillMessage{Topic: "farms/f1/devices/d1/status", Payload: []byte("offline"), QoS: 1, Retain: true}
	})
	if err != nil {
		t.Fatalf("device with its own offline will: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "d1 online", func() bool { return retained(a)["farms/f1/devices/d1/status"] == "online" })
	v.Conn.Close()
	testkit.Eventually(t, 10*time.Second, "d1 offline after the drop", func() bool {
		return retained(a)["farms/f1/devices/d1/status"] == "offline"
	})

	// Thousands of retained publishes on every topic a device and a
	// caregiver can reach, and on some they cannot.
	dev := testkit.MQTT(t, a.MQTTAddr(), d1)
	cg := testkit.MQTT(t, a.MQTTAddr(), c1)
	for i := range 600 {
		for _, p := range []struct {
			cl             paho.Client
			topic, payload string
		}{
			{dev, "farms/f1/devices/d1/telemetry", `{"hr": "junk"}`},
			{dev, "farms/f1/devices/d1/status", fmt.Sprintf("state %d", i)},
			{dev, fmt.Sprintf("junk/%d", i), "x"},
			{dev, "farms/f2/alerts/q1", forgedSOS},
			{cg, fmt.Sprintf("farms/f1/alerts/p1/a%d/ack", i), `{"by":"c1"}`},
		} {
			p.cl.Publish(p.topic, 0, true, p.payload)
		}
	}
	testkit.Publish(t, dev, "farms/f1/devices/d1/telemetry", 1, `{"hr": 70}`) // after the QoS 0 burst
	testkit.Publish(t, cg, "farms/f1/alerts/p1/last/ack", 1, `{"by":"c1"}`)

	after := retained(a)
	want := map[string]string{}
	for k, v := range before {
		want[k] = v
	}
	want["farms/f1/devices/d1/status"] = "online" // d1 is connected again
	if len(after) != len(want) {
		t.Errorf("retained store: %d messages before, %d after, want %d: %v", len(before), len(after), len(want), after)
	}
	for topic, payload := range after {
		if _, ok := want[topic]; ok && strings.HasPrefix(topic, "$SYS/") {
			continue // mochi's own, refreshed with current values
		}
		if want[topic] != payload {
			t.Errorf("retained %s = %.60q, want %q", topic, payload, want[topic])
		}
	}

	// A caregiver of f2 subscribing now is sent nothing forged.
	box := &inbox{}
	subscribe(t, testkit.MQTT(t, a.MQTTAddr(), c2), box, "farms/f2/alerts/+")
	time.Sleep(time.Second)
	if got := box.all(); len(got) != 0 {
		t.Errorf("a later subscriber received %+v", got)
	}
}
