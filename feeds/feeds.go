package feeds

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// Reading is one observation of public context for a region.
type Reading struct {
	// Time is the observation time (the hour the service observed), not
	// the time it was fetched.
	Time time.Time `json:"t"`
	// Region is medbiz's region id (the same as a patient's region).
	Region string `json:"region"`
	// Metric is a telemetry context metric (telemetry.ContextMetrics).
	Metric string  `json:"n"`
	Value  float64 `json:"v"`
	// Source names the adapter ("kma", "airkorea").
	Source string `json:"src"`
	// Station is the service's own place key: an AirKorea station name, a
	// KMA grid point "nx,ny".
	Station string `json:"station,omitempty"`
}

// Measurement is the reading in the form the rule engine takes
// (rules.Engine.ObserveContext).
func (r Reading) Measurement() telemetry.Measurement {
	return telemetry.Measurement{Time: r.Time, Metric: r.Metric, Value: r.Value, Source: r.Source}
}

// Validate checks a reading against the context vocabulary.
func (r Reading) Validate() error {
	spec, ok := telemetry.LookupContext(r.Metric)
	switch {
	case !ok:
		return fmt.Errorf("%q is not a context metric", r.Metric)
	case r.Time.IsZero():
		return fmt.Errorf("%s: no observation time", r.Metric)
	case r.Region == "":
		return fmt.Errorf("%s: no region", r.Metric)
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < spec.Min || r.Value > spec.Max:
		return fmt.Errorf("%s: %v outside %v..%v", r.Metric, r.Value, spec.Min, spec.Max)
	}
	return nil
}

// Source is one public service that reports context per region.
type Source interface {
	// Name is a short id used in logs, metrics and Reading.Source.
	Name() string
	// Regions are the medbiz regions the source is configured for.
	Regions() []string
	// Interval is how often each region is polled.
	Interval() time.Duration
	// Poll fetches the newest observations of one region. An answer with
	// no data is no error: it returns no readings. Errors the poller must
	// treat specially are a *RetryAfterError (rate limited) or a
	// *PermanentError (retrying soon cannot help); any other error is
	// transient and retried with back-off.
	Poll(ctx context.Context, region string) ([]Reading, error)
}

// Sink receives the readings of each successful poll, new ones only.
type Sink interface {
	Publish(ctx context.Context, rs []Reading) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, rs []Reading) error

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, rs []Reading) error { return f(ctx, rs) }

// RetryAfterError is a rate-limit answer: the service asked the caller to
// wait (HTTP 429 or 503 with Retry-After, or a quota-exceeded code). The
// poller waits at least Wait before it asks that source again.
type RetryAfterError struct {
	Wait time.Duration
	Err  error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.Wait, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// PermanentError is an answer that retrying within minutes cannot change
// (an unregistered service key, a bad parameter). The poller tries again
// at the next interval, not sooner.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is or wraps a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
