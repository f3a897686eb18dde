package telemetry

import (
	"errors"
	"testing"
	"time"
)

func TestContextVocabularyIsApart(t *testing.T) {
	names := ContextMetrics()
	if len(names) == 0 {
		t.Fatal("no context metrics")
	}
	for _, name := range names {
		spec, ok := LookupContext(name)
		if !ok || spec.Name != name || spec.Min >= spec.Max {
			t.Errorf("context metric %q: %+v %v", name, spec, ok)
		}
		if _, ok := Lookup(name); ok {
			t.Errorf("context metric %q is also a device metric", name)
		}
		// A device cannot pass weather off as its own measurement.
		_, err := Decode([]byte(`{"`+name+`": 1}`), time.Now(), DecodeOptions{})
		var de *Error
		if !errors.As(err, &de) || de.Reason != ReasonUnknownMetric {
			t.Errorf("device sending %q: err %v, want an unknown-metric rejection", name, err)
		}
	}
	if _, ok := LookupContext(HR); ok {
		t.Error("hr is not a context metric")
	}
}
