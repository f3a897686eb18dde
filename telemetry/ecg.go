package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// ecgWire is the "ecg" value of a payload:
//
//	{"fs": 250, "unit": "mV", "samples": [0.12, 0.15, …]}
//	{"fs": 250, "gain": 200, "samples": [24, 30, …]}     mV = sample / gain
//
// With both, sample/gain is in "unit". Other keys (a lead name, say) are
// ignored.
type ecgWire struct {
	FS      optFloat  `json:"fs"`
	Unit    optString `json:"unit"`
	Gain    optFloat  `json:"gain"`
	Samples []float32 `json:"samples"`
}

// ecgFrame decodes one ECG frame. unitOverride is the "units" entry for
// "ecg", if any; the frame's own "unit" wins.
func (d *decoder) ecgFrame(raw json.RawMessage, unitOverride string, ts time.Time, skewed bool) *Error {
	if raw[0] != '{' {
		return errorf(ReasonBadECG, `metric "ecg": value must be a frame object {"fs": Hz, "samples": [...]}, not %s`, describe(raw))
	}
	if err := d.count(1); err != nil {
		return err
	}
	// encoding/json appends into the capacity it finds, so sizing the
	// slice from the comma count (an upper bound on the sample count) saves
	// the doubling copies; the cap keeps a comma flood from reserving more
	// than one frame may hold.
	var w ecgWire
	w.Samples = make([]float32, 0, min(bytes.Count(raw, []byte{','})+1, d.opt.MaxECGSamples+1))
	if err := json.Unmarshal(raw, &w); err != nil {
		return ecgFieldError(err)
	}
	if err := ecgNulls(raw); err != nil {
		return err
	}
	if !w.FS.set {
		return errorf(ReasonBadECG, `metric "ecg": frame has no sample rate "fs"`)
	}
	if fs := w.FS.v; !(fs >= d.opt.MinECGRate && fs <= d.opt.MaxECGRate) {
		return errorf(ReasonBadECG, `metric "ecg": sample rate "fs" %s Hz outside %s..%s Hz`, fmtFloat(fs), fmtFloat(d.opt.MinECGRate), fmtFloat(d.opt.MaxECGRate))
	}
	if n := len(w.Samples); n < 1 || n > d.opt.MaxECGSamples {
		return errorf(ReasonBadECG, `metric "ecg": %d "samples" in the frame, allowed 1..%d`, n, d.opt.MaxECGSamples)
	}
	spec := &vocabulary[vocabIndex[ECG]]
	unit := unitOverride
	if w.Unit.set {
		unit = w.Unit.v
	}
	u, ok := spec.unit(unit)
	if !ok {
		return badUnit(spec, unit)
	}
	gain := 1.0
	if w.Gain.set {
		gain = w.Gain.v
		if !(gain > 0) || math.IsInf(gain, 0) {
			return errorf(ReasonBadECG, `metric "ecg": "gain" %s must be a positive number of counts per %s`, fmtFloat(gain), u.Name)
		}
	}
	// Convert in place: the samples slice becomes the frame's, so the
	// common case allocates nothing beyond what decoding did.
	identity := gain == 1 && u.Add == 0 && u.Mul == 1 && u.Div == 1
	for i, s := range w.Samples {
		x := float64(s)
		if !identity {
			x = u.ToCanonical(x / gain)
		}
		if !(x >= spec.Min && x <= spec.Max) {
			return errorf(ReasonBadECG, `metric "ecg": sample %d is %s mV, outside %s..%s mV (check "unit" and "gain")`, i, fmtFloat(x), fmtFloat(spec.Min), fmtFloat(spec.Max))
		}
		w.Samples[i] = float32(x)
	}
	d.out.ECG = append(d.out.ECG, ECGFrame{Start: ts, FS: w.FS.v, Samples: w.Samples, Skewed: skewed})
	return nil
}

func ecgFieldError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		if te.Field == "samples" && strings.HasPrefix(te.Value, "number") {
			return errorf(ReasonBadECG, `metric "ecg": "samples" holds a number too large for a sample`)
		}
		return errorf(ReasonBadECG, `metric "ecg": field %q must be %s, not JSON %s`, te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	if errors.Is(err, errFieldType) {
		return errorf(ReasonBadECG, `metric "ecg": "fs" and "gain" must be numbers, "unit" a string`)
	}
	return jsonError(err)
}

// ecgNulls rejects null samples, which encoding/json would silently decode
// as 0 mV, a flat line that looks like asystole. The byte test is a cheap
// filter; only a frame that contains "null" somewhere is decoded again.
func ecgNulls(raw []byte) *Error {
	if !bytes.Contains(raw, []byte("null")) {
		return nil
	}
	var probe struct {
		Samples []json.RawMessage `json:"samples"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return jsonError(err)
	}
	for i, s := range probe.Samples {
		if string(s) == "null" {
			return errorf(ReasonBadECG, `metric "ecg": sample %d is null; every sample must be a number`, i)
		}
	}
	return nil
}
