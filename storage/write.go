package storage

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
)

// Tag is one tag of a Point.
type Tag struct{ Key, Value string }

// Field is one field of a Point. Value is float64, int64, string or bool.
type Field struct {
	Key   string
	Value any
}

// Point is one line of line protocol. Slices rather than maps keep 5,000
// point batches cheap to build and encode; tag order does not matter to the
// server (it sorts), but callers building many points should keep it fixed.
type Point struct {
	Measurement string
	Tags        []Tag
	Fields      []Field
	// Time is written with nanosecond precision, so what a device sent
	// (milliseconds) and derived sample times (start + i/fs) both round-trip
	// exactly.
	Time time.Time
}

// AppendLine appends p as one line of line protocol (with a trailing
// newline) to buf. Points without fields or with a NaN/Inf value are
// rejected: the server would refuse the whole batch for them.
func AppendLine(buf []byte, p Point) ([]byte, error) {
	if p.Measurement == "" {
		return buf, fmt.Errorf("point: empty measurement")
	}
	if len(p.Fields) == 0 {
		return buf, fmt.Errorf("point %s: no fields", p.Measurement)
	}
	start := len(buf)
	buf = appendEscaped(buf, p.Measurement, ", ")
	for _, t := range p.Tags {
		if t.Key == "" || t.Value == "" {
			continue // line protocol has no empty tags; absent means empty
		}
		buf = append(buf, ',')
		buf = appendEscaped(buf, t.Key, ",= ")
		buf = append(buf, '=')
		buf = appendEscaped(buf, t.Value, ",= ")
	}
	for i, f := range p.Fields {
		if i == 0 {
			buf = append(buf, ' ')
		} else {
			buf = append(buf, ',')
		}
		buf = appendEscaped(buf, f.Key, ",= ")
		buf = append(buf, '=')
		switch v := f.Value.(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return buf[:start], fmt.Errorf("point %s: field %s: %v is not storable", p.Measurement, f.Key, v)
			}
			buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
		case float32:
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return buf[:start], fmt.Errorf("point %s: field %s: %v is not storable", p.Measurement, f.Key, v)
			}
			buf = strconv.AppendFloat(buf, float64(v), 'f', -1, 32)
		case int64:
			buf = strconv.AppendInt(buf, v, 10)
			buf = append(buf, 'i')
		case int:
			buf = strconv.AppendInt(buf, int64(v), 10)
			buf = append(buf, 'i')
		case bool:
			buf = strconv.AppendBool(buf, v)
		case string:
			buf = append(buf, '"')
			buf = appendEscaped(buf, v, `"\`)
			buf = append(buf, '"')
		default:
			return buf[:start], fmt.Errorf("point %s: field %s: unsupported type %T", p.Measurement, f.Key, f.Value)
		}
	}
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, p.Time.UnixNano(), 10)
	buf = append(buf, '\n')
	return buf, nil
}

// appendEscaped backslash-escapes the characters in special; newlines are
// replaced by spaces (escaped) since line protocol cannot carry them.
func appendEscaped(buf []byte, s, special string) []byte {
	if !strings.ContainsAny(s, special+"\n") {
		return append(buf, s...)
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '\n' {
			ch = ' '
		}
		if strings.IndexByte(special, ch) >= 0 {
			buf = append(buf, '\\')
		}
		buf = append(buf, ch)
	}
	return buf
}

// WriteLines writes pre-encoded line protocol (see AppendLine) with
// nanosecond timestamps to the Farm's bucket, in one request. Nothing is
// retried here: the caller (the store processor) decides with
// IsRetryable, IsNotFound and the server's message in *Error. On 1.x a
// rejected point (field type conflict) makes a "partial write": the
// others are stored and the error is still returned.
func (c *Client) WriteLines(ctx context.Context, farm string, lines []byte) error {
	if err := checkFarm(farm); err != nil {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	w := c.writer(farm)
	body := string(lines[:len(lines)-trailingNewline(lines)])
	if err := w.WriteRecord(ctx, body); err != nil {
		return fromClientError("write "+BucketName(farm), err)
	}
	return nil
}

func trailingNewline(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

func (c *Client) writer(farm string) api.WriteAPIBlocking {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.writers[farm]; ok {
		return w
	}
	bucket := BucketName(farm)
	org := c.org
	if c.flavor == V1 {
		// 1.x's /api/v2/write reads the bucket as "database/retention".
		bucket += "/" + RetentionPolicy
		org = ""
	}
	w := c.influx.WriteAPIBlocking(org, bucket)
	c.writers[farm] = w
	return w
}
