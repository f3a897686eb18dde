package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/storage"
	"github.com/medbiz/medbiz/telemetry"
)

type seriesInput struct {
	FarmPath
	Patient string `path:"patient" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$"`
	Metric  string `query:"metric" required:"true" doc:"a numeric metric: hr, rr, sys, dia, map, spo2, temp, glucose, battery, weight, steps, or a derived ecg_* metric"`
	Start   string `query:"start" default:"-1h" doc:"RFC 3339 time or a duration relative to now (-1h, -30m, -7d)"`
	Stop    string `query:"stop" default:"now" doc:"RFC 3339 time, a relative duration, or now"`
	Every   string `query:"every" doc:"aggregation window, for example 1m; empty returns raw points"`
	Fn      string `query:"fn" enum:"mean,min,max,last,count" doc:"aggregate over each window; default mean"`
	Source  string `query:"source" enum:"device,ecg" default:"device" doc:"device values, or values medbiz derived from ECG"`
	Accept  string `header:"Accept"`
}

// Point is one value of a series.
type Point struct {
	T string  `json:"t" doc:"RFC 3339 UTC with the stored precision, at least milliseconds"`
	V float64 `json:"v"`
}

// SeriesBody is a series answer (also its CSV form: t,v).
type SeriesBody struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

type seriesOutput struct {
	Body *SeriesBody
}

type alertsInput struct {
	FarmPath
	Patient string `query:"patient" doc:"only this patient's alerts"`
	State   string `query:"state" enum:"active,acknowledged,resolved" doc:"only alerts now in this state"`
	Start   string `query:"start" default:"-7d" doc:"for resolved alerts: how far back"`
}

type alertsOutput struct {
	Body []rules.Event
}

type ackInput struct {
	FarmPath
	ID   string `path:"id" pattern:"^[a-zA-Z0-9_-]{1,200}$"`
	Body *struct {
		By string `json:"by,omitempty" doc:"ignored: the acknowledgement is recorded in the caller's name, token:<token id> (or admin for the admin token)"`
	} `required:"false"`
}

type ackOutput struct {
	Body rules.Event
}

func (a *API) registerReads(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-series", Method: http.MethodGet, Path: "/api/v1/farms/{farm}/patients/{patient}/series",
		Summary: "Read a patient's time series", Tags: []string{"data"},
		Description: "Raw points, or aggregated with every and fn. Answers JSON, or CSV (t,v) with Accept: text/csv.",
	}, a.series)
	huma.Register(api, huma.Operation{
		OperationID: "list-alerts", Method: http.MethodGet, Path: "/api/v1/farms/{farm}/alerts",
		Summary: "List alerts", Tags: []string{"alerts"},
		Description: "Active and acknowledged alerts as they are now; resolved ones from the farm's bucket.",
	}, a.alerts)
	huma.Register(api, huma.Operation{
		OperationID: "ack-alert", Method: http.MethodPost, Path: "/api/v1/farms/{farm}/alerts/{id}/ack",
		Summary: "Acknowledge an active alert", Tags: []string{"alerts"}, DefaultStatus: http.StatusAccepted,
	}, a.ack)
}

func (a *API) series(ctx context.Context, in *seriesInput) (*seriesOutput, error) {
	if err := a.requireFarm(ctx, in.Authorization, in.Farm, "read"); err != nil {
		return nil, err
	}
	spec, ok := telemetry.Lookup(in.Metric)
	if !ok || in.Metric == telemetry.Event || in.Metric == telemetry.ECG {
		return nil, huma.Error400BadRequest(fmt.Sprintf("metric: %q is not a numeric metric", in.Metric),
			&huma.ErrorDetail{Location: "query.metric", Value: in.Metric})
	}
	now := a.d.Now()
	start, err := parseTime(in.Start, now)
	if err != nil {
		return nil, huma.Error400BadRequest("start: "+err.Error(), &huma.ErrorDetail{Location: "query.start", Value: in.Start})
	}
	stop, err := parseTime(in.Stop, now)
	if err != nil {
		return nil, huma.Error400BadRequest("stop: "+err.Error(), &huma.ErrorDetail{Location: "query.stop", Value: in.Stop})
	}
	if !stop.After(start) {
		return nil, huma.Error400BadRequest("stop: must be after start", &huma.ErrorDetail{Location: "query.stop", Value: in.Stop})
	}
	q := storage.SeriesQuery{Measurement: "vitals", Patient: in.Patient, Metric: in.Metric, Start: start, Stop: stop, Fn: in.Fn}
	if in.Source == "ecg" {
		q.Source = "ecg"
	}
	if in.Every != "" {
		if q.Every, err = parseDuration(in.Every); err != nil || q.Every <= 0 {
			return nil, huma.Error400BadRequest("every: not a positive duration", &huma.ErrorDetail{Location: "query.every", Value: in.Every})
		}
		if q.Fn == "" {
			q.Fn = "mean"
		}
	} else if in.Fn != "" {
		return nil, huma.Error400BadRequest("fn: needs every", &huma.ErrorDetail{Location: "query.fn", Value: in.Fn})
	}
	if _, ok := a.d.Registry.Farm(in.Farm); !ok {
		return nil, huma.Error404NotFound("farm " + in.Farm + " not found")
	}
	if _, ok := a.d.Registry.Patient(in.Farm, in.Patient); !ok {
		return nil, huma.Error404NotFound("patient " + in.Patient + " not found")
	}
	pts, err := a.d.Store.QuerySeries(ctx, in.Farm, q)
	if err != nil {
		return nil, a.fail("query series", err)
	}
	body := &SeriesBody{Metric: in.Metric, Unit: spec.Unit, Points: make([]Point, len(pts))}
	for i, p := range pts {
		body.Points[i] = Point{T: formatTime(p.T), V: p.V}
	}
	return &seriesOutput{Body: body}, nil
}

// formatTime is RFC 3339 UTC with at least milliseconds, more if stored.
func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		return t.Format(time.RFC3339Nano)
	}
	return t.Format("2006-01-02T15:04:05.000Z07:00")
}

// parseTime takes RFC 3339, "now", or a duration relative to now.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339, now, nor a duration like -1h", s)
	}
	return now.Add(d), nil
}

// parseDuration is time.ParseDuration plus days ("7d", "-1d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (a *API) activeAlerts(ctx context.Context, farm string) ([]rules.Event, error) {
	kv, err := a.d.JS.KeyValue(ctx, bus.ActiveAlertsBucket)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, bus.ActiveAlertsOfFarm(farm))
	if err != nil {
		return nil, err
	}
	var out []rules.Event
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue // resolved between listing and reading
		}
		var al rules.Event
		if err := json.Unmarshal(e.Value(), &al); err != nil {
			a.log.Warn("unreadable active alert", "key", key, "error", err)
			continue
		}
		out = append(out, al)
	}
	return out, nil
}

func (a *API) alerts(ctx context.Context, in *alertsInput) (*alertsOutput, error) {
	if err := a.requireFarm(ctx, in.Authorization, in.Farm, "read"); err != nil {
		return nil, err
	}
	var out []rules.Event
	if in.State != "resolved" {
		act, err := a.activeAlerts(ctx, in.Farm)
		if err != nil {
			return nil, a.fail("list active alerts", err)
		}
		out = append(out, act...)
	}
	if in.State == "" || in.State == "resolved" {
		start, err := parseTime(in.Start, a.d.Now())
		if err != nil {
			return nil, huma.Error400BadRequest("start: "+err.Error(), &huma.ErrorDetail{Location: "query.start", Value: in.Start})
		}
		res, err := a.resolvedAlerts(ctx, in.Farm, start)
		if err != nil {
			return nil, a.fail("list resolved alerts", err)
		}
		out = append(out, res...)
	}
	filtered := out[:0]
	for _, al := range out {
		if (in.Patient == "" || al.Patient == in.Patient) && (in.State == "" || al.State == in.State) {
			filtered = append(filtered, al)
		}
	}
	sort.Slice(filtered, func(i, j int) bool { return filtered[i].TS.After(filtered[j].TS) })
	if filtered == nil {
		filtered = []rules.Event{}
	}
	return &alertsOutput{Body: filtered}, nil
}

// resolvedAlerts reads the resolution events stored in the farm's bucket.
func (a *API) resolvedAlerts(ctx context.Context, farm string, start time.Time) ([]rules.Event, error) {
	rows, err := a.d.Store.QueryRows(ctx, farm,
		`SELECT "event" FROM "alerts" WHERE "state" = 'resolved' AND time >= $start`,
		map[string]any{"start": start.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return nil, err
	}
	var out []rules.Event
	for _, r := range rows {
		s, _ := r.Values["event"].(string)
		var al rules.Event
		if err := json.Unmarshal([]byte(s), &al); err == nil {
			out = append(out, al)
		}
	}
	return out, nil
}

func (a *API) ack(ctx context.Context, in *ackInput) (*ackOutput, error) {
	if err := a.requireFarm(ctx, in.Authorization, in.Farm, "write"); err != nil {
		return nil, err
	}
	act, err := a.activeAlerts(ctx, in.Farm)
	if err != nil {
		return nil, a.fail("find alert", err)
	}
	for _, al := range act {
		if al.ID != in.ID {
			continue
		}
		// Recorded in the caller's name whatever the body says, as an MQTT
		// acknowledgement is in the caregiver's.
		by := a.actor(ctx, in.Authorization)
		data, _ := json.Marshal(bus.AckMessage{Farm: in.Farm, Patient: al.Patient, AlertID: al.ID, By: by, TS: a.d.Now()})
		if _, err := a.d.JS.Publish(ctx, bus.AckSubject(in.Farm, al.Patient), data); err != nil {
			return nil, huma.Error503ServiceUnavailable("acknowledgement not accepted: " + err.Error())
		}
		return &ackOutput{Body: al}, nil
	}
	return nil, huma.Error404NotFound("no active alert " + in.ID + " in farm " + in.Farm)
}
