package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// DecodeOptions bounds what one payload may carry. The zero value means
// the defaults below; a field left at zero takes its default.
type DecodeOptions struct {
	// MaxBytes is the largest accepted payload (default 256 KiB).
	MaxBytes int
	// MaxReadings is the most measurements plus ECG frames in one payload
	// (default 10000).
	MaxReadings int
	// MaxFuture and MaxPast form the clock-skew window around the receive
	// time (defaults 5 min and 7 days). A device time outside it is
	// replaced by the receive time and the measurement flagged Skewed, so a
	// device with a dead RTC still has its vitals stored and evaluated.
	MaxFuture time.Duration
	MaxPast   time.Duration
	// MinECGRate and MaxECGRate bound an ECG frame's sample rate in Hz
	// (defaults 100 and 1000).
	MinECGRate float64
	MaxECGRate float64
	// MaxECGSamples is the most samples in one ECG frame (default 10000).
	MaxECGSamples int
}

// Defaults of DecodeOptions.
const (
	DefaultMaxBytes      = 256 << 10
	DefaultMaxReadings   = 10000
	DefaultMaxFuture     = 5 * time.Minute
	DefaultMaxPast       = 7 * 24 * time.Hour
	DefaultMinECGRate    = 100
	DefaultMaxECGRate    = 1000
	DefaultMaxECGSamples = 10000
)

func (o DecodeOptions) withDefaults() DecodeOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxReadings <= 0 {
		o.MaxReadings = DefaultMaxReadings
	}
	if o.MaxFuture <= 0 {
		o.MaxFuture = DefaultMaxFuture
	}
	if o.MaxPast <= 0 {
		o.MaxPast = DefaultMaxPast
	}
	if o.MinECGRate <= 0 {
		o.MinECGRate = DefaultMinECGRate
	}
	if o.MaxECGRate <= 0 {
		o.MaxECGRate = DefaultMaxECGRate
	}
	if o.MaxECGSamples <= 0 {
		o.MaxECGSamples = DefaultMaxECGSamples
	}
	return o
}

// Decoded is what one accepted payload contains.
type Decoded struct {
	// Measurements in payload order: array elements and SenML records in
	// the order sent; the metrics of one JSON object in vocabulary order
	// (JSON objects are unordered, so that order is the deterministic one).
	Measurements []Measurement
	// ECG frames in payload order, samples in mV.
	ECG []ECGFrame
}

// Decode validates one device payload and turns it into measurements in
// canonical units. The forms (docs/contract.md#telemetry-payloads):
//
//	{"ts": 1764200000000, "hr": 72, "spo2": 97}          flat object
//	{"ts": "2026-11-27T03:40:00Z", "values": {"sys": 128}} values object
//	[{...}, {...}]                                        array of those
//	[{"bn": "urn:dev:mac:…:", "bt": 1764200000, "n": "hr", "v": 72}]  SenML
//	{"ts": …, "ecg": {"fs": 250, "unit": "mV", "samples": [...]}}  ECG frame
//
// ts is epoch milliseconds (a JSON number) or an RFC 3339 string, and is
// optional (then received is used). A flat or values object may carry
// "units": {"metric": "unit", …} to send a metric in another accepted unit
// (for example {"glucose": "mmol/L", "temp": "°F"}); without it every value
// is in its metric's canonical unit. Keys "ts", "units" and "values" are
// reserved; every other key must be a metric a device may send.
//
// Any error rejects the whole payload: the result is then empty and the
// error is an *Error whose Reason is one of the Reason constants.
func Decode(payload []byte, received time.Time, opt DecodeOptions) (Decoded, error) {
	d := decoder{opt: opt.withDefaults(), recv: received.UTC()}
	if err := d.decode(payload); err != nil {
		return Decoded{}, err
	}
	return d.out, nil
}

// decoder holds the state of one Decode call.
type decoder struct {
	opt      DecodeOptions
	recv     time.Time
	out      Decoded
	readings int
}

func (d *decoder) decode(payload []byte) *Error {
	if len(payload) > d.opt.MaxBytes {
		return errorf(ReasonTooLarge, "payload is %d bytes, more than the limit of %d", len(payload), d.opt.MaxBytes)
	}
	// encoding/json would silently replace invalid UTF-8 with U+FFFD;
	// The contract promises UTF-8 (docs/contract.md#telemetry-payloads), so
	// say so instead.
	if !utf8.Valid(payload) {
		return errorf(ReasonMalformed, "payload is not valid UTF-8")
	}
	body := bytes.TrimLeft(payload, " \t\r\n")
	if len(body) == 0 {
		return errorf(ReasonEmpty, "payload is empty")
	}
	var err *Error
	switch body[0] {
	case '{':
		var m map[string]field
		if jerr := json.Unmarshal(body, &m); jerr != nil {
			return jsonError(jerr)
		}
		err = d.object(m, "")
	case '[':
		err = d.array(body)
	default:
		if !json.Valid(body) {
			return errorf(ReasonMalformed, "payload is not valid JSON")
		}
		return errorf(ReasonMalformed, "payload must be a JSON object or array")
	}
	if err != nil {
		return err
	}
	if len(d.out.Measurements) == 0 && len(d.out.ECG) == 0 {
		return errorf(ReasonEmpty, "payload has no measurements")
	}
	return nil
}

// jsonError turns an encoding/json error into an Error.
func jsonError(err error) *Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errorf(ReasonMalformed, "invalid JSON at byte %d: %v", se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return errorf(ReasonMalformed, "field %q: JSON %s where %s was expected", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		}
		return errorf(ReasonMalformed, "JSON %s where %s was expected", te.Value, jsonKind(te.Type.Kind().String()))
	}
	return errorf(ReasonMalformed, "invalid JSON: %v", err)
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch kind {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "float32", "float64":
		return "a number"
	}
	return "another type"
}

// count adds n readings and enforces MaxReadings.
func (d *decoder) count(n int) *Error {
	d.readings += n
	if d.readings > d.opt.MaxReadings {
		return errorf(ReasonTooLarge, "more than %d readings in one payload", d.opt.MaxReadings)
	}
	return nil
}

// array decodes a top-level JSON array: SenML if any element carries a
// SenML field, otherwise an array of flat/values objects.
//
// The fast path decodes the array once, straight into SenML records: for a
// SenML pack that is the only decode. Anything unusual (a wrong JSON type
// somewhere, a non-object element, a field name ending in "_") takes the
// slow path, which decodes element by element to say which one is wrong.
//
// A SenML record in memory is ~200 bytes against as little as 3 on the
// wire ("{},"), so the one-shot decode is only used for payloads up to
// senmlFastMaxBytes; bigger ones go element by element, where the element
// count is checked against MaxReadings before records are allocated.
func (d *decoder) array(body []byte) *Error {
	if len(body) > senmlFastMaxBytes || !mayBeSenML(body) {
		return d.arraySlow(body)
	}
	var recs []senmlRecord
	if json.Unmarshal(body, &recs) != nil || bytes.Contains(body, []byte(`_"`)) {
		return d.arraySlow(body)
	}
	if len(recs) == 0 {
		return errorf(ReasonEmpty, "payload is an empty array")
	}
	if len(recs) > d.opt.MaxReadings {
		return errorf(ReasonTooLarge, "more than %d array elements, the limit of readings", d.opt.MaxReadings)
	}
	for i := range recs {
		if recs[i].isSenML() {
			return d.senml(recs)
		}
	}
	return d.arraySlow(body)
}

// senmlKeys are the quoted field names that make an array SenML.
var senmlKeys = [][]byte{[]byte(`"n"`), []byte(`"v"`), []byte(`"bn"`), []byte(`"bt"`), []byte(`"u"`), []byte(`"vs"`)}

// mayBeSenML is false when no SenML field name occurs anywhere in body, so
// that an array of flat objects skips the SenML decode. It may be true for
// a flat array (say, a string value "n"); the decode then decides.
func mayBeSenML(body []byte) bool {
	for _, k := range senmlKeys {
		if bytes.Contains(body, k) {
			return true
		}
	}
	return false
}

// senmlFastMaxBytes bounds the payloads array decodes in one go (at most
// ~5500 records, ~1 MiB of them).
const senmlFastMaxBytes = 16 << 10

// arraySlow is array for payloads the fast path cannot take.
func (d *decoder) arraySlow(body []byte) *Error {
	n, senml, err := d.scanArray(body)
	if err != nil {
		return err
	}
	if n == 0 {
		return errorf(ReasonEmpty, "payload is an empty array")
	}
	raws := make([]json.RawMessage, 0, n)
	if err := json.Unmarshal(body, &raws); err != nil {
		return jsonError(err)
	}
	if !senml {
		return d.objects(raws)
	}
	recs := make([]senmlRecord, len(raws))
	for i, raw := range raws {
		where := "SenML record " + strconv.Itoa(i)
		if err := json.Unmarshal(raw, &recs[i]); err != nil {
			return senmlFieldError(raw).at(where)
		}
		if err := mandatoryFields(raw); err != nil {
			return err.at(where)
		}
	}
	return d.senml(recs)
}

// scanArray walks a top-level array with a streaming decoder, which holds
// one element at a time, and returns the number of elements and whether
// the array is SenML (an element has n, bn, bt, v, u or vs). It stops at
// the first element that is not an object and at MaxReadings elements, so
// that a flood of tiny elements costs no more than one of them.
func (d *decoder) scanArray(body []byte) (int, bool, *Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '['
		return 0, false, jsonError(err)
	}
	var (
		raw   json.RawMessage // reused: Decode appends into its capacity
		probe struct {
			N  json.RawMessage `json:"n"`
			BN json.RawMessage `json:"bn"`
			BT json.RawMessage `json:"bt"`
			V  json.RawMessage `json:"v"`
			U  json.RawMessage `json:"u"`
			VS json.RawMessage `json:"vs"`
		}
		n     int
		senml bool
	)
	for ; dec.More(); n++ {
		if n == d.opt.MaxReadings {
			return 0, false, errorf(ReasonTooLarge, "more than %d array elements, the limit of readings", d.opt.MaxReadings)
		}
		if err := dec.Decode(&raw); err != nil {
			return 0, false, jsonError(err).at(index(n))
		}
		if raw[0] != '{' {
			return 0, false, errorf(ReasonMalformed, "array elements must be JSON objects").at(index(n))
		}
		if senml {
			continue
		}
		probe.N, probe.BN, probe.BT, probe.V, probe.U, probe.VS = nil, nil, nil, nil, nil, nil
		// A type error here is reported by whichever decoder runs next.
		_ = json.Unmarshal(raw, &probe)
		senml = probe.N != nil || probe.BN != nil || probe.BT != nil || probe.V != nil || probe.U != nil || probe.VS != nil
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return 0, false, jsonError(err)
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return 0, false, errorf(ReasonMalformed, "invalid JSON: data after the top-level array")
	}
	return n, senml, nil
}

// objects decodes an array of flat/values objects one at a time into one
// reused map, so that memory stays proportional to one element: a flood of
// tiny objects stops at the first bad one instead of first becoming tens
// of thousands of maps.
func (d *decoder) objects(raws []json.RawMessage) *Error {
	m := make(map[string]field)
	for i, raw := range raws {
		clear(m)
		if err := json.Unmarshal(raw, &m); err != nil {
			return jsonError(err).at(index(i))
		}
		if err := d.object(m, index(i)); err != nil {
			return err
		}
	}
	return nil
}

func index(i int) string { return "payload[" + strconv.Itoa(i) + "]" }

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// fmtFloat writes a number for an error detail: plain decimals, at most
// four of them, so that 37 °F reads as 2.7778 °C rather than
// 2.7777777777777777.
func fmtFloat(f float64) string {
	if math.Abs(f) >= 1e15 || math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', 6, 64)
	}
	return strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64)
}

// describe names the JSON type of a raw value for error messages.
func describe(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "that"
}
