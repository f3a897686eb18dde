package bus

import (
	"errors"
	"fmt"
	"strings"
)

// Subjects are medbiz.<kind>.<farm>.<patient>[.<device>]. This file is
// the one place that builds and reads them; nothing else splits a subject.

// Kind is a subject's second token: what the message is.
type Kind string

// The subject kinds, each with its stream.
const (
	// KindTelemetry is a device's accepted batch (TELEMETRY).
	KindTelemetry Kind = "telemetry"
	// KindECG is a batch that carries ECG frames (TELEMETRY).
	KindECG Kind = "ecg"
	// KindAlert is an alert state change (ALERTS).
	KindAlert Kind = "alerts"
	// KindStatus is a device's online/offline change (CONTROL).
	KindStatus Kind = "status"
	// KindAck is a caregiver's acknowledgement (CONTROL).
	KindAck Kind = "acks"
)

const subjectPrefix = "medbiz."

// Subject filters: every subject of one kind.
const (
	TelemetryFilter = subjectPrefix + string(KindTelemetry) + ".>"
	ECGFilter       = subjectPrefix + string(KindECG) + ".>"
	AlertsFilter    = subjectPrefix + string(KindAlert) + ".>"
	StatusFilter    = subjectPrefix + string(KindStatus) + ".>"
	AcksFilter      = subjectPrefix + string(KindAck) + ".>"
)

// TelemetrySubject is where the ingest hook publishes a device's accepted batches.
func TelemetrySubject(farm, patient, device string) string {
	return subjectPrefix + string(KindTelemetry) + "." + farm + "." + patient + "." + device
}

// ECGSubject is where a device's batches that carry ECG frames go, so only
// the ECG processor reads raw waveforms; they are in TELEMETRY too, so the
// store keeps them.
func ECGSubject(farm, patient, device string) string {
	return subjectPrefix + string(KindECG) + "." + farm + "." + patient + "." + device
}

// AlertSubject is where alert state changes of one patient are published.
func AlertSubject(farm, patient string) string {
	return subjectPrefix + string(KindAlert) + "." + farm + "." + patient
}

// StatusSubject carries a device's online/offline changes.
func StatusSubject(farm, patient, device string) string {
	return subjectPrefix + string(KindStatus) + "." + farm + "." + patient + "." + device
}

// AckSubject carries caregivers' acknowledgements of one patient's alerts.
func AckSubject(farm, patient string) string {
	return subjectPrefix + string(KindAck) + "." + farm + "." + patient
}

// Subject is a parsed medbiz subject. Device is empty for alerts and
// acknowledgements, which are per patient.
type Subject struct {
	Kind                  Kind
	Farm, Patient, Device string
}

// ErrMalformedSubject is wrapped by every parse error.
var ErrMalformedSubject = errors.New("malformed subject")

// idTokens is how many id tokens follow the kind.
var idTokens = map[Kind]int{KindTelemetry: 3, KindECG: 3, KindStatus: 3, KindAlert: 2, KindAck: 2}

// ParseSubject reads any medbiz subject. A subject of another prefix or
// kind, with too few or too many tokens, or with an empty or wildcard
// token is an error wrapping ErrMalformedSubject.
func ParseSubject(s string) (Subject, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || parts[0]+"." != subjectPrefix {
		return Subject{}, malformed(s, "not a medbiz subject")
	}
	kind := Kind(parts[1])
	n, ok := idTokens[kind]
	if !ok {
		return Subject{}, malformed(s, fmt.Sprintf("unknown kind %q", parts[1]))
	}
	if len(parts) != 2+n {
		return Subject{}, malformed(s, fmt.Sprintf("%s subjects have %d tokens after the kind, not %d", kind, n, len(parts)-2))
	}
	for _, tok := range parts[2:] {
		if tok == "" || strings.ContainsAny(tok, "*>") {
			return Subject{}, malformed(s, "empty or wildcard token")
		}
	}
	sub := Subject{Kind: kind, Farm: parts[2], Patient: parts[3]}
	if n == 3 {
		sub.Device = parts[4]
	}
	return sub, nil
}

// ParseAlertSubject reads medbiz.alerts.<farm>.<patient>.
func ParseAlertSubject(s string) (farm, patient string, err error) {
	sub, err := parseKind(s, KindAlert)
	return sub.Farm, sub.Patient, err
}

// ParseTelemetrySubject reads medbiz.telemetry.<farm>.<patient>.<device>
// and its ECG twin, medbiz.ecg.<farm>.<patient>.<device>.
func ParseTelemetrySubject(s string) (farm, patient, device string, err error) {
	sub, err := ParseSubject(s)
	if err == nil && sub.Kind != KindTelemetry && sub.Kind != KindECG {
		err = malformed(s, "not a telemetry subject")
	}
	if err != nil {
		return "", "", "", err
	}
	return sub.Farm, sub.Patient, sub.Device, nil
}

func parseKind(s string, want Kind) (Subject, error) {
	sub, err := ParseSubject(s)
	if err == nil && sub.Kind != want {
		err = malformed(s, fmt.Sprintf("not a %s subject", want))
	}
	if err != nil {
		return Subject{}, err
	}
	return sub, nil
}

func malformed(s, why string) error {
	return fmt.Errorf("%w %q: %s", ErrMalformedSubject, s, why)
}
