// Package telemetry owns medbiz's canonical measurement model, the metric
// vocabulary with units and plausible ranges, and the payload codecs that
// turn what a device publishes into measurements. It performs no I/O and
// imports no network or database package.
package telemetry

import "time"

// Measurement is one normalised value of one metric at one instant, in the
// canonical unit of its metric (see Vocabulary).
type Measurement struct {
	// Time is the event time: the device's timestamp, or the receive time
	// when the device sent none or one outside the clock-skew window.
	Time time.Time `json:"t"`
	// Metric is a name from Vocabulary (for example "hr").
	Metric string `json:"n"`
	// Value is the numeric value in the metric's canonical unit. For the
	// "event" metric it is 1.
	Value float64 `json:"v"`
	// Text carries the event kind for the "event" metric ("fall", "sos", …).
	Text string `json:"s,omitempty"`
	// Source is empty for values a device measured and names the processor
	// for derived values (for example "ecg" for heart rate from beats).
	Source string `json:"src,omitempty"`
	// Skewed is true when the device's timestamp was outside the clock-skew
	// window and the receive time was used instead.
	Skewed bool `json:"skew,omitempty"`
}

// ECGFrame is a block of raw ECG samples from one device, in millivolts.
type ECGFrame struct {
	// Start is the time of the first sample.
	Start time.Time `json:"t"`
	// FS is the sample rate in Hz.
	FS float64 `json:"fs"`
	// Samples are in mV.
	Samples []float32 `json:"x"`
	// Skewed is true when the device's timestamp was outside the clock-skew
	// window and the receive time was used as Start instead.
	Skewed bool `json:"skew,omitempty"`
}

// Batch is what one accepted MQTT message becomes on the telemetry stream:
// every measurement of the message, stamped with who it belongs to.
type Batch struct {
	Farm     string    `json:"farm"`
	Patient  string    `json:"patient"`
	Device   string    `json:"device"`
	Received time.Time `json:"recv"`
	// Measurements in the order the device sent them.
	Measurements []Measurement `json:"m,omitempty"`
	// ECG frames in the order the device sent them.
	ECG []ECGFrame `json:"ecg,omitempty"`
}

// Metric names of the vocabulary (docs/contract.md#metrics-and-units).
const (
	HR      = "hr"
	RR      = "rr"
	Sys     = "sys"
	Dia     = "dia"
	MAP     = "map"
	SpO2    = "spo2"
	Temp    = "temp"
	Glucose = "glucose"
	ECG     = "ecg"
	Event   = "event"
	Battery = "battery"
	Weight  = "weight"
	Steps   = "steps"
)

// Event kinds carried in Measurement.Text for the "event" metric.
const (
	EventFall     = "fall"
	EventSOS      = "sos"
	EventMotion   = "motion"
	EventNoMotion = "no_motion"
	EventApnea    = "apnea"
	EventBedExit  = "bed_exit"
)
