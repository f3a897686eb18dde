package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// Measurements written by medbiz (docs/contract.md#storage-layout).
const (
	MeasurementVitals = "vitals"
	MeasurementECG    = "ecg"
	MeasurementAlerts = "alerts"
	// FieldECG is the field holding one ECG sample in mV.
	FieldECG = "mv"
	// TagSource marks derived values (for example hr computed from ECG).
	TagSource = "source"
)

// SeriesQuery selects one metric of one patient over [Start, Stop).
type SeriesQuery struct {
	// Measurement defaults to "vitals"; the metric "ecg" always reads the
	// "ecg" measurement's "mv" field.
	Measurement string
	Patient     string
	Metric      string
	Start, Stop time.Time
	// Every > 0 groups by time buckets; Fn then defaults to mean.
	Every time.Duration
	// Fn is "", "mean", "min", "max", "last" or "count". With Fn and no
	// Every, the whole range is one bucket.
	Fn string
	// Source selects derived values ("ecg"); empty reads what devices
	// measured themselves. (An extension of docs/contract.md#http-reads:
	// without it a raw hr series would mix the device's and the ECG-derived
	// values.)
	Source string
}

// SeriesPoint is one value of a series; T is UTC with the stored precision.
type SeriesPoint struct {
	T time.Time
	V float64
}

// Row is one row of an InfluxQL result, with the series' tags and every
// column but time in Values (numbers as float64, strings, bools, or nil).
type Row struct {
	Measurement string
	Tags        map[string]string
	Time        time.Time
	Values      map[string]any
}

var (
	identRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	fnAllow = map[string]bool{"mean": true, "min": true, "max": true, "last": true, "count": true}
)

// ErrInvalidQuery wraps every rejection of a SeriesQuery made before any
// request is sent.
var ErrInvalidQuery = errors.New("invalid query")

// buildSeriesQuery validates q and returns the InfluxQL statement and its
// bound parameters. Identifiers (measurement, field, fn) come only from the
// vocabulary and allow-lists; every value is a parameter.
func buildSeriesQuery(q SeriesQuery) (string, map[string]any, error) {
	bad := func(format string, a ...any) (string, map[string]any, error) {
		return "", nil, fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, a...))
	}
	if !identRe.MatchString(q.Metric) {
		return bad("metric %q", q.Metric)
	}
	spec, ok := telemetry.Lookup(q.Metric)
	if !ok {
		return bad("unknown metric %q", q.Metric)
	}
	measurement, field := q.Measurement, q.Metric
	if measurement == "" {
		measurement = MeasurementVitals
	}
	if spec.Waveform {
		measurement, field = MeasurementECG, FieldECG
	}
	if measurement != MeasurementVitals && measurement != MeasurementECG {
		return bad("measurement %q", q.Measurement)
	}
	fn := q.Fn
	if fn == "" && q.Every > 0 {
		fn = "mean"
	}
	if fn != "" && !fnAllow[fn] {
		return bad("fn %q (want mean, min, max, last or count)", q.Fn)
	}
	if len(spec.Kinds) > 0 && fn != "count" {
		// Text metrics ("event") have no numeric value to return.
		return bad("metric %q only supports fn=count", q.Metric)
	}
	if q.Every < 0 || (q.Every > 0 && q.Every < time.Millisecond) {
		return bad("every %v (minimum 1ms)", q.Every)
	}
	if q.Start.IsZero() || q.Stop.IsZero() || !q.Start.Before(q.Stop) {
		return bad("range [%v, %v)", q.Start, q.Stop)
	}
	if q.Source != "" && !identRe.MatchString(q.Source) {
		return bad("source %q", q.Source)
	}

	var sb strings.Builder
	sb.WriteString("SELECT ")
	if fn == "" {
		sb.WriteString(quoteIdent(field))
	} else {
		fmt.Fprintf(&sb, "%s(%s)", fn, quoteIdent(field))
	}
	fmt.Fprintf(&sb, " FROM %s WHERE %s = $patient AND time >= $start AND time < $stop",
		quoteIdent(measurement), quoteIdent("patient"))
	params := map[string]any{
		"patient": q.Patient,
		"start":   q.Start.UTC().Format(time.RFC3339Nano),
		"stop":    q.Stop.UTC().Format(time.RFC3339Nano),
	}
	if measurement == MeasurementVitals {
		// A tag compared with '' matches series without that tag, so the
		// device's own values are not mixed with derived ones.
		fmt.Fprintf(&sb, " AND %s = $source", quoteIdent(TagSource))
		params["source"] = q.Source
	}
	if fn != "" && q.Every > 0 {
		fmt.Fprintf(&sb, " GROUP BY time(%s) fill(none)", durationLit(q.Every))
	}
	return sb.String(), params, nil
}

// QuerySeries reads one metric of one patient, raw or aggregated, ordered by
// time ascending. Rows where the metric is null (another metric's line) are
// not returned: InfluxQL drops all-null rows of a single-field select.
func (c *Client) QuerySeries(ctx context.Context, farm string, q SeriesQuery) ([]SeriesPoint, error) {
	stmt, params, err := buildSeriesQuery(q)
	if err != nil {
		return nil, err
	}
	rows, err := c.QueryRows(ctx, farm, stmt, params)
	if err != nil {
		return nil, err
	}
	out := make([]SeriesPoint, 0, len(rows))
	for _, r := range rows {
		for _, v := range r.Values {
			f, ok := v.(float64)
			if !ok {
				continue // null: aggregation over an empty bucket
			}
			out = append(out, SeriesPoint{T: r.Time, V: f})
		}
	}
	return out, nil
}

// QueryRows runs one InfluxQL SELECT/SHOW statement against the Farm's
// database with bound parameters ($name in the statement, values in params)
// and returns its rows. Statement errors are permanent *Error values with
// the server's message.
func (c *Client) QueryRows(ctx context.Context, farm string, influxql string, params map[string]any) ([]Row, error) {
	if err := checkFarm(farm); err != nil {
		return nil, err
	}
	return c.influxQL(ctx, "query "+BucketName(farm), http.MethodGet, BucketName(farm), influxql, params)
}

func (c *Client) influxQL(ctx context.Context, op, method, db, stmt string, params map[string]any) ([]Row, error) {
	v := url.Values{"q": {stmt}, "epoch": {"ns"}}
	if db != "" {
		v.Set("db", db)
	}
	if len(params) > 0 {
		p, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("%s: encode params: %w", op, err)
		}
		v.Set("params", string(p))
	}
	resp, err := c.do(ctx, op, method, "/query", v, nil)
	if err != nil {
		return nil, err
	}
	return decodeQuery(op, resp.Body)
}

type queryResult struct {
	Results []struct {
		Series []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

func decodeQuery(op string, body []byte) ([]Row, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // epoch=ns times do not fit a float64
	var res queryResult
	if err := dec.Decode(&res); err != nil {
		return nil, &Error{Op: op, Message: "decode answer: " + err.Error(), Err: err}
	}
	if res.Error != "" {
		return nil, &Error{Op: op, StatusCode: http.StatusOK, Message: res.Error}
	}
	var rows []Row
	for _, r := range res.Results {
		if r.Error != "" {
			return nil, &Error{Op: op, StatusCode: http.StatusOK, Message: r.Error}
		}
		for _, s := range r.Series {
			for _, vals := range s.Values {
				row := Row{Measurement: s.Name, Tags: s.Tags, Values: make(map[string]any, len(s.Columns))}
				for i, col := range s.Columns {
					if i >= len(vals) {
						break
					}
					if col == "time" {
						n, ok := vals[i].(json.Number)
						if !ok {
							return nil, &Error{Op: op, Message: fmt.Sprintf("time column %v is not epoch ns", vals[i])}
						}
						ns, err := n.Int64()
						if err != nil {
							return nil, &Error{Op: op, Message: "time column: " + err.Error(), Err: err}
						}
						row.Time = time.Unix(0, ns).UTC()
						continue
					}
					row.Values[col] = jsonValue(vals[i])
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

func jsonValue(v any) any {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		if err != nil {
			return n.String()
		}
		return f
	}
	return v
}

// quoteIdent quotes an InfluxQL identifier. Callers pass only validated
// names; escaping still makes a mistake harmless.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// durationLit writes d as an InfluxQL duration literal in the largest exact
// unit.
func durationLit(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	default:
		return fmt.Sprintf("%du", d/time.Microsecond)
	}
}
