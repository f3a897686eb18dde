package app_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/testkit"
)

// BenchmarkAlertLatency measures SOS press (device PUBLISH) to caregiver
// receipt of the "active" alert, while a background fleet publishes.
// Each iteration is one press; the press is then acknowledged and resolved
// (outside the measurement) so the next press is a new alert.
//
//	go test -run '^$' -bench AlertLatency -benchtime 200x ./app/
func BenchmarkAlertLatency(b *testing.B) {
	const fleet, rate = 20, 2000 // devices, total messages per second
	a := testkit.Start(b, testkit.Config(b.TempDir()))
	h := testkit.API(b, a)
	h.Farm("f1")
	h.Patient("f1", "p0", "elderly", "")
	button := h.Device("f1", "sos", "p0", "sos_button")
	cg := h.Caregiver("f1", "c1", "p0")

	got := make(chan alertMsg, 16)
	c := testkit.MQTT(b, a.MQTTAddr(), cg)
	tok := c.Subscribe("farms/f1/alerts/p0", 1, func(_ paho.Client, m paho.Message) {
		var al alertMsg
		if err := json.Unmarshal(m.Payload(), &al); err == nil {
			got <- al
		}
	})
	tok.Wait()

	// The background fleet: QoS 1, a person each, evenly paced.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < fleet; i++ {
		pid, did := fmt.Sprintf("q%d", i), fmt.Sprintf("ox%d", i)
		h.Patient("f1", pid, "elderly", "")
		cl := testkit.MQTT(b, a.MQTTAddr(), h.Device("f1", did, pid, "pulse_oximeter"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * fleet / rate)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-tick.C:
					cl.Publish(testkit.TelemetryTopic("f1", did), 1, false,
						fmt.Sprintf(`{"ts": %d, "hr": 72, "spo2": 97}`, now.UnixMilli())).Wait()
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	press := testkit.MQTT(b, a.MQTTAddr(), button)
	topic := testkit.TelemetryTopic("f1", "sos")
	base := time.Now().Add(-6 * 24 * time.Hour)
	await := func(state string) alertMsg {
		for {
			select {
			case al := <-got:
				if al.Rule == "sos" && al.State == state {
					return al
				}
			case <-time.After(20 * time.Second):
				b.Fatalf("no %s sos alert", state)
			}
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := base.Add(time.Duration(i) * 3 * time.Minute)
		t0 := time.Now()
		press.Publish(topic, 1, false, fmt.Sprintf(`{"ts": %d, "event": "sos"}`, at.UnixMilli()))
		al := await("active")
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		testkit.Publish(b, c, "farms/f1/alerts/p0/"+al.ID+"/ack", 1, `{}`)
		await("acknowledged")
		testkit.Publish(b, press, topic, 1, fmt.Sprintf(`{"ts": %d, "battery": 90}`, at.Add(70*time.Second).UnixMilli()))
		await("resolved")
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(1), "max_ms")
}
