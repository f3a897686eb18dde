package bus

import (
	"errors"
	"testing"
)

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    Subject
		bad     bool
	}{
		{subject: TelemetrySubject("f1", "p1", "d1"), want: Subject{Kind: KindTelemetry, Farm: "f1", Patient: "p1", Device: "d1"}},
		{subject: ECGSubject("f1", "p-1", "ecg_2"), want: Subject{Kind: KindECG, Farm: "f1", Patient: "p-1", Device: "ecg_2"}},
		{subject: StatusSubject("f1", "p1", "d1"), want: Subject{Kind: KindStatus, Farm: "f1", Patient: "p1", Device: "d1"}},
		{subject: AlertSubject("f1", "p1"), want: Subject{Kind: KindAlert, Farm: "f1", Patient: "p1"}},
		{subject: AckSubject("f1", "p1"), want: Subject{Kind: KindAck, Farm: "f1", Patient: "p1"}},
		{subject: "", bad: true},
		{subject: "medbiz", bad: true},
		{subject: "medbiz.", bad: true},
		{subject: "other.alerts.f1.p1", bad: true},
		{subject: "medbizz.alerts.f1.p1", bad: true},
		{subject: "medbiz.unknown.f1.p1", bad: true},
		{subject: "medbiz.alerts.f1", bad: true},            // too few
		{subject: "medbiz.alerts.f1.p1.d1", bad: true},      // too many
		{subject: "medbiz.telemetry.f1.p1", bad: true},      // no device
		{subject: "medbiz.telemetry.f1.p1.d1.x", bad: true}, // too many
		{subject: "medbiz.acks.f1..", bad: true},
		{subject: "medbiz.acks..p1", bad: true},
		{subject: "medbiz.status.f1.p1.", bad: true},
		{subject: AlertsFilter, bad: true},
		{subject: "medbiz.alerts.f1.*", bad: true},
		{subject: "medbiz.telemetry.f1.>.d1", bad: true},
	} {
		got, err := ParseSubject(tc.subject)
		if tc.bad {
			if err == nil || !errors.Is(err, ErrMalformedSubject) {
				t.Errorf("%q: got %+v, %v; want ErrMalformedSubject", tc.subject, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.subject, got, err, tc.want)
		}
	}
}

func TestParseAlertSubject(t *testing.T) {
	farm, patient, err := ParseAlertSubject(AlertSubject("f1", "p1"))
	if err != nil || farm != "f1" || patient != "p1" {
		t.Fatalf("got %q %q %v", farm, patient, err)
	}
	for _, s := range []string{AckSubject("f1", "p1"), TelemetrySubject("f1", "p1", "d1"), "medbiz.alerts.f1", "alerts.f1.p1"} {
		if _, _, err := ParseAlertSubject(s); !errors.Is(err, ErrMalformedSubject) {
			t.Errorf("%q: err %v, want ErrMalformedSubject", s, err)
		}
	}
}

func TestParseTelemetrySubject(t *testing.T) {
	for _, s := range []string{TelemetrySubject("f1", "p1", "d1"), ECGSubject("f1", "p1", "d1")} {
		farm, patient, device, err := ParseTelemetrySubject(s)
		if err != nil || farm != "f1" || patient != "p1" || device != "d1" {
			t.Errorf("%q: got %q %q %q %v", s, farm, patient, device, err)
		}
	}
	for _, s := range []string{StatusSubject("f1", "p1", "d1"), AlertSubject("f1", "p1"), "medbiz.telemetry.f1.p1"} {
		if _, _, _, err := ParseTelemetrySubject(s); !errors.Is(err, ErrMalformedSubject) {
			t.Errorf("%q: err %v, want ErrMalformedSubject", s, err)
		}
	}
}

func TestParseActiveAlertKey(t *testing.T) {
	farm, patient, id, err := ParseActiveAlertKey(ActiveAlertKey("f1", "p1", "p1-sos-1764214800000"))
	if err != nil || farm != "f1" || patient != "p1" || id != "p1-sos-1764214800000" {
		t.Fatalf("got %q %q %q %v", farm, patient, id, err)
	}
	for _, k := range []string{"", "f1", "f1.p1", "f1.p1.a.b", "f1..a", ".p1.a", "f1.p1."} {
		if _, _, _, err := ParseActiveAlertKey(k); err == nil {
			t.Errorf("%q parsed", k)
		}
	}
}
