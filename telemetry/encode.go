package telemetry

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// BatchContentType names the wire form of a Batch, for a NATS message
// header, so that a consumer can tell a future format from this one.
const BatchContentType = "application/vnd.medbiz.batch.v2"

// batchMagic starts the binary form; a JSON batch (the first wire form,
// still read so that old stream data stays readable) starts with '{'.
const batchMagic = 0xB2

// MarshalBatch is the one place that writes a Batch for the NATS telemetry
// stream. The form is binary: every batch is written once by the broker
// and read by the store, the rules and the ECG processor, and JSON made
// that the largest CPU cost of the pipeline. Strings are length-prefixed,
// times are Unix nanoseconds, values IEEE 754 bits.
func MarshalBatch(b *Batch) ([]byte, error) {
	n := 32 + len(b.Farm) + len(b.Patient) + len(b.Device) + 40*len(b.Measurements)
	for _, f := range b.ECG {
		n += 32 + 4*len(f.Samples)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, batchMagic)
	buf = appendString(buf, b.Farm)
	buf = appendString(buf, b.Patient)
	buf = appendString(buf, b.Device)
	buf = binary.AppendVarint(buf, b.Received.UnixNano())
	buf = binary.AppendUvarint(buf, uint64(len(b.Measurements)))
	for i := range b.Measurements {
		m := &b.Measurements[i]
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return nil, fmt.Errorf("marshal telemetry batch: metric %q: value %v is not finite", m.Metric, m.Value)
		}
		buf = binary.AppendVarint(buf, m.Time.UnixNano())
		buf = appendString(buf, m.Metric)
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(m.Value))
		buf = appendString(buf, m.Text)
		buf = appendString(buf, m.Source)
		buf = append(buf, boolByte(m.Skewed))
	}
	buf = binary.AppendUvarint(buf, uint64(len(b.ECG)))
	for i := range b.ECG {
		f := &b.ECG[i]
		buf = binary.AppendVarint(buf, f.Start.UnixNano())
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f.FS))
		buf = append(buf, boolByte(f.Skewed))
		buf = binary.AppendUvarint(buf, uint64(len(f.Samples)))
		for _, s := range f.Samples {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(s))
		}
	}
	return buf, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

var errShortBatch = errors.New("truncated")

// UnmarshalBatch reads what MarshalBatch wrote into b, replacing all of b.
// It also reads the JSON form earlier versions wrote.
func UnmarshalBatch(data []byte, b *Batch) error {
	*b = Batch{}
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, b); err != nil {
			return fmt.Errorf("unmarshal telemetry batch: %w", err)
		}
		return nil
	}
	if len(data) == 0 || data[0] != batchMagic {
		return errors.New("unmarshal telemetry batch: unknown wire form")
	}
	r := reader{data: data[1:]}
	b.Farm, b.Patient, b.Device = r.string(), r.string(), r.string()
	b.Received = r.time()
	if n := r.count(18); n > 0 {
		b.Measurements = make([]Measurement, n)
		for i := range b.Measurements {
			m := &b.Measurements[i]
			m.Time = r.time()
			m.Metric = r.string()
			m.Value = math.Float64frombits(r.uint64())
			m.Text = r.string()
			m.Source = r.string()
			m.Skewed = r.byte() == 1
		}
	}
	if n := r.count(18); n > 0 {
		b.ECG = make([]ECGFrame, n)
		for i := range b.ECG {
			f := &b.ECG[i]
			f.Start = r.time()
			f.FS = math.Float64frombits(r.uint64())
			f.Skewed = r.byte() == 1
			f.Samples = make([]float32, r.count(4))
			for j := range f.Samples {
				f.Samples[j] = math.Float32frombits(r.uint32())
			}
		}
	}
	if r.err != nil {
		*b = Batch{}
		return fmt.Errorf("unmarshal telemetry batch: %w", r.err)
	}
	return nil
}

// reader decodes the binary form; after the first error every read
// returns a zero value and err keeps that error.
type reader struct {
	data []byte
	err  error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errShortBatch
	}
	r.data = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *reader) time() time.Time {
	v, n := binary.Varint(r.data)
	if n <= 0 {
		r.fail()
		return time.Time{}
	}
	r.data = r.data[n:]
	return time.Unix(0, v).UTC()
}

// count reads a length whose elements take at least min bytes each, so a
// corrupt length cannot make a huge allocation.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.data)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count(1)
	s := string(r.data[:n])
	r.data = r.data[n:]
	return s
}

func (r *reader) byte() byte {
	if len(r.data) < 1 {
		r.fail()
		return 0
	}
	v := r.data[0]
	r.data = r.data[1:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.data) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.data)
	r.data = r.data[8:]
	return v
}

func (r *reader) uint32() uint32 {
	if len(r.data) < 4 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.data)
	r.data = r.data[4:]
	return v
}
