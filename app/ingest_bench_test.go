package app_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/testkit"
)

// BenchmarkOneDeviceQoS1 is one device publishing QoS 1 readings as fast
// as medbiz acknowledges them (paho keeps up to 64 in flight), timed until
// every reading is stored in InfluxDB: end to end, publish to stored.
//
//	go test -run '^$' -bench OneDeviceQoS1 -benchtime 20000x ./app/
func BenchmarkOneDeviceQoS1(b *testing.B) {
	a := testkit.Start(b, testkit.Config(b.TempDir()))
	h := testkit.API(b, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "adult", "")
	dev := h.Device("f1", "d1", "p1", "pulse_oximeter")
	r := &testkit.HTTP{T: b, Base: h.Base, Bearer: h.FarmToken("f1", "read")}
	cl := testkit.MQTT(b, a.MQTTAddr(), dev, func(o *paho.ClientOptions) { o.SetMaxResumePubInFlight(64) })
	topic := testkit.TelemetryTopic("f1", "d1")
	base := time.Now().Add(-24 * time.Hour)

	b.ResetTimer()
	began := time.Now()
	toks := make([]paho.Token, 0, 64)
	for i := 0; i < b.N; i++ {
		// One reading per millisecond of event time: every one a distinct point.
		toks = append(toks, cl.Publish(topic, 1, false,
			fmt.Sprintf(`{"ts": %d, "hr": %d}`, base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), 60+i%40)))
		if len(toks) == cap(toks) {
			for _, t := range toks {
				t.Wait()
			}
			toks = toks[:0]
		}
	}
	for _, t := range toks {
		t.Wait()
	}
	acked := time.Since(began)
	for {
		code, s, body := r.Series("f1", "p1", "metric=hr&start=-25h&every=100h&fn=count")
		if code != http.StatusOK {
			b.Fatalf("count: %d %s", code, body)
		}
		n := 0.0
		for _, p := range s.Points {
			n += p.V
		}
		if int(n) >= b.N {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stored := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/acked.Seconds(), "acked_msgs/s")
	b.ReportMetric(float64(b.N)/stored.Seconds(), "stored_msgs/s")
}
