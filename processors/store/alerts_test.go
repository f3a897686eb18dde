package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEncodeAlert(t *testing.T) {
	msg := `{"id":"f1-p1-hr_high-2","farm":"f1","patient":"p1","rule":"hr_high","severity":"critical","state":"acknowledged",` +
		`"started":"2026-11-27T03:40:00.000Z","ts":"2026-11-27T03:50:00.000Z","message":"Heart rate above 130 /min",` +
		`"values":{"hr":141},"escalation":2,"acked_by":"c1"}`
	farm, line, n, err := EncodeAlert("medbiz.alerts.f1.p1", []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if farm != "f1" || n != 1 {
		t.Fatalf("farm %q, %d points", farm, n)
	}
	got := string(line)
	for _, want := range []string{
		"alerts,patient=p1,rule=hr_high,severity=critical,state=acknowledged ",
		`id="f1-p1-hr_high-2"`, `escalation=2i`, fmt.Sprintf(" %d\n", time.Date(2026, 11, 27, 3, 50, 0, 0, time.UTC).UnixNano()),
		// the message is kept whole, as the API answers it
		`event="{\"id\":\"f1-p1-hr_high-2\"`, `\"acked_by\":\"c1\"}"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	for _, bad := range []string{`{"farm":"f1","patient":"p1"}`, `{"id":"a","farm":"f1","patient":"p1","ts":"later"}`, `[`} {
		if _, _, _, err := EncodeAlert("medbiz.alerts.f1.p1", []byte(bad)); err == nil {
			t.Errorf("%s encoded without error", bad)
		}
	}
}
