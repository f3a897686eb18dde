package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/testkit"
)

// A QoS 1 publish to $SYS/… (or $share/…) is answered: MQTT 5 gets
// PUBACK 0x87 and stays connected, MQTT 3.1.1 is disconnected; neither
// waits for a PUBACK that never comes.
func TestReservedTopicPublishIsAnswered(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	topic := testkit.TelemetryTopic("f1", "d1")

	v, err := testkit.DialV5(t, a.MQTTAddr(), dev, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, reserved := range []string{"$SYS/broker/clients/connected", "$share/g/x"} {
		resp, err := v.Publish(ctx, &paho5.Publish{Topic: reserved, QoS: 1, Payload: []byte("1")})
		if resp == nil || resp.ReasonCode != 0x87 {
			t.Errorf("MQTT 5 publish to %s: %+v %v, want PUBACK 0x87", reserved, resp, err)
		}
	}
	ts := time.Now().Add(-time.Minute).UnixMilli()
	resp, err := v.Publish(ctx, &paho5.Publish{Topic: topic, QoS: 1, Payload: fmt.Appendf(nil, `{"ts": %d, "hr": 61}`, ts)})
	if err != nil || resp.ReasonCode != 0 {
		t.Fatalf("MQTT 5 telemetry after the refusal: %+v %v", resp, err)
	}

	lost := make(chan error, 1)
	cl := testkit.MQTT(t, a.MQTTAddr(), dev, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	tok := cl.Publish("$SYS/broker/clients/connected", 1, false, "1")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("MQTT 3.1.1 publish to $SYS: neither answered nor disconnected after 10 s")
	}
	if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		t.Error("the refused publish was reported as delivered")
	}
	// Nothing was lost: the MQTT 5 reading is stored.
	waitSeries(t, reader(t, h, token), "f1", "p1", "metric=hr&start=-10m", 1)
}

// medbiz takes no topic aliases: the CONNACK advertises none (the
// property is absent, which means 0), and a client that sends one anyway
// is disconnected with 0x94 at once instead of being refused by the ACL
// or left waiting.
func TestTopicAliasesAreNotTaken(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	dev, _ := provision(t, h)
	v, err := testkit.DialV5(t, a.MQTTAddr(), dev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Connack.Properties; p != nil && p.TopicAliasMaximum != nil && *p.TopicAliasMaximum != 0 {
		t.Fatalf("CONNACK advertises topic alias maximum %d", *p.TopicAliasMaximum)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alias := uint16(1)
	acked := make(chan error, 1)
	go func() {
		_, err := v.Publish(ctx, &paho5.Publish{
			Topic: testkit.TelemetryTopic("f1", "d1"), QoS: 1, Payload: []byte(`{"hr": 70}`),
			Properties: &paho5.PublishProperties{TopicAlias: &alias},
		})
		acked <- err
	}()
	defer func() {
		cancel()
		if err := <-acked; err == nil {
			t.Error("a publish with a topic alias was acknowledged")
		}
	}()
	select {
	case d := <-v.Disconnects:
		if d.ReasonCode != 0x94 {
			t.Errorf("DISCONNECT %#x, want 0x94 topic alias invalid", d.ReasonCode)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no DISCONNECT for a topic alias")
	}
}
