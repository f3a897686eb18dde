package store

import (
	"fmt"
	"math"
	"time"

	"github.com/medbiz/medbiz/storage"
	"github.com/medbiz/medbiz/telemetry"
)

// lineKey identifies one line of the vitals measurement within a message:
// measurements at the same instant from the same source share a line.
type lineKey struct {
	t      int64
	source string
}

// encodeBatch turns one telemetry batch into line protocol for its Farm's
// bucket and returns the bytes with the number of points (lines).
//
//   - vitals: tags patient, device (+ source for derived values), one field
//     per metric; the event metric stores its kind string in field "event".
//   - ecg (when storeECG): one point per sample at Start + i/FS, field mv.
//
// The same batch always yields the same lines, so a redelivered message
// overwrites its own points instead of adding new ones.
func encodeBatch(buf []byte, b *telemetry.Batch, storeECG bool) ([]byte, int, error) {
	tags := []storage.Tag{{Key: "device", Value: b.Device}, {Key: "patient", Value: b.Patient}}
	n := 0

	// Group measurements into lines in order of first appearance; a metric
	// repeated at the same instant keeps its last value, as the server would.
	var order []lineKey
	lines := make(map[lineKey][]storage.Field)
	for _, m := range b.Measurements {
		k := lineKey{t: m.Time.UnixNano(), source: m.Source}
		var v any = m.Value
		if m.Metric == telemetry.Event {
			v = m.Text
		}
		fs, seen := lines[k]
		if !seen {
			order = append(order, k)
		}
		replaced := false
		for i := range fs {
			if fs[i].Key == m.Metric {
				fs[i].Value = v
				replaced = true
			}
		}
		if !replaced {
			fs = append(fs, storage.Field{Key: m.Metric, Value: v})
		}
		lines[k] = fs
	}
	var err error
	for _, k := range order {
		p := storage.Point{Measurement: storage.MeasurementVitals, Tags: tags, Fields: lines[k], Time: time.Unix(0, k.t)}
		if k.source != "" {
			p.Tags = append(tags[:len(tags):len(tags)], storage.Tag{Key: storage.TagSource, Value: k.source})
		}
		if buf, err = storage.AppendLine(buf, p); err != nil {
			return buf, 0, err
		}
		n++
	}

	if !storeECG {
		return buf, n, nil
	}
	for _, f := range b.ECG {
		if len(f.Samples) == 0 {
			continue
		}
		if !(f.FS > 0) || math.IsInf(f.FS, 0) {
			return buf, 0, fmt.Errorf("ecg frame at %v: sample rate %v", f.Start, f.FS)
		}
		step := float64(time.Second) / f.FS
		start := f.Start.UnixNano()
		p := storage.Point{Measurement: storage.MeasurementECG, Tags: tags, Fields: []storage.Field{{Key: storage.FieldECG}}}
		for i, x := range f.Samples {
			p.Fields[0].Value = x // float32: written with float32 digits ("0.1", not 0.10000000149)
			p.Time = time.Unix(0, start+int64(math.Round(float64(i)*step)))
			if buf, err = storage.AppendLine(buf, p); err != nil {
				return buf, 0, err
			}
			n++
		}
	}
	return buf, n, nil
}
