// Package airkorea is the air-quality feed: AirKorea's real-time
// measurements per station (Korea Environment Corporation,
// ArpltnInforInqireSvc/getMsrstnAcctoRltmMesureDnsty on the public-data
// portal), turned into PM2.5, PM10 and ozone, the US EPA AQI (2024 table)
// from their 24-hour and 8-hour averages, and the service's own
// Comprehensive Air-quality Index (CAI, "khai") and grade.
package airkorea

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/medbiz/medbiz/feeds"
	"github.com/medbiz/medbiz/feeds/portal"
	"github.com/medbiz/medbiz/telemetry"
)

// DefaultBaseURL is the service's endpoint on the public-data portal.
const DefaultBaseURL = "https://apis.data.go.kr/B552584/ArpltnInforInqireSvc/getMsrstnAcctoRltmMesureDnsty"

// Config configures the feed.
type Config struct {
	// BaseURL is the getMsrstnAcctoRltmMesureDnsty endpoint
	// (DefaultBaseURL when empty).
	BaseURL string
	// ServiceKey is the portal's key, encoded or decoded form.
	ServiceKey string
	// Regions maps a medbiz region id to an AirKorea station name (as the
	// service spells it, e.g. "종로구").
	Regions map[string]string
	// Interval between polls of a region (default 30 minutes; stations
	// report hourly). A development key allows 500 calls a day: keep
	// regions × 24 h / interval under it.
	Interval   time.Duration
	HTTPClient *http.Client
	// Now is the clock for rate-limit waits (default time.Now).
	Now func() time.Time
}

// Source polls the service.
type Source struct {
	cfg     Config
	regions []string
}

var _ feeds.Source = (*Source)(nil)

// New checks the config and builds the source.
func New(cfg Config) (*Source, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if _, err := url.ParseRequestURI(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("airkorea: base url %q: %w", cfg.BaseURL, err)
	}
	if cfg.ServiceKey == "" {
		return nil, errors.New("airkorea: service key is required")
	}
	if len(cfg.Regions) == 0 {
		return nil, errors.New("airkorea: no regions")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 20 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Source{cfg: cfg}
	for r, st := range cfg.Regions {
		if !feeds.ValidRegion(r) {
			return nil, fmt.Errorf("airkorea: region %q is not a valid id", r)
		}
		if strings.TrimSpace(st) == "" {
			return nil, fmt.Errorf("airkorea: region %s: no station name", r)
		}
		s.regions = append(s.regions, r)
	}
	sort.Strings(s.regions)
	return s, nil
}

// Name implements feeds.Source.
func (s *Source) Name() string { return "airkorea" }

// Regions implements feeds.Source.
func (s *Source) Regions() []string { return append([]string(nil), s.regions...) }

// Interval implements feeds.Source.
func (s *Source) Interval() time.Duration { return s.cfg.Interval }

type answer struct {
	Response struct {
		Header portal.Header `json:"header"`
		Body   struct {
			Items portal.Items[row] `json:"items"`
		} `json:"body"`
	} `json:"response"`
}

// row is one station hour. Values are strings; "-" is missing.
type row struct {
	DataTime  string     `json:"dataTime"`
	PM10      portal.Num `json:"pm10Value"`
	PM25      portal.Num `json:"pm25Value"`
	O3        portal.Num `json:"o3Value"`
	KHAI      portal.Num `json:"khaiValue"`
	KHAIGrade portal.Num `json:"khaiGrade"`
}

// Poll implements feeds.Source: the station's last 24 hours, of which the
// newest hour becomes readings and the rest feeds the averages.
func (s *Source) Poll(ctx context.Context, region string) ([]feeds.Reading, error) {
	station, ok := s.cfg.Regions[region]
	if !ok {
		return nil, feeds.Permanent(fmt.Errorf("airkorea: unknown region %q", region))
	}
	now := s.cfg.Now()
	u, err := portal.URL(s.cfg.BaseURL, s.cfg.ServiceKey, url.Values{
		"returnType": {"json"}, "numOfRows": {"100"}, "pageNo": {"1"},
		"stationName": {station}, "dataTerm": {"DAILY"}, "ver": {"1.3"},
	})
	if err != nil {
		return nil, err
	}
	body, err := portal.Get(ctx, s.cfg.HTTPClient, u, now)
	if err != nil {
		return nil, fmt.Errorf("airkorea %s: %w", region, err)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("airkorea %s: malformed answer: %w", region, err)
	}
	if err := portal.CheckHeader(a.Response.Header, now); errors.Is(err, portal.ErrNoData) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("airkorea %s: %w", region, err)
	}
	return readings(region, station, a.Response.Body.Items.Item)
}

// parseTime reads "2026-08-05 14:00" (KST). The service writes midnight
// as 24:00 of the day before.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	next := false
	if strings.HasSuffix(s, " 24:00") {
		s, next = strings.TrimSuffix(s, " 24:00")+" 00:00", true
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, portal.KST)
	if err != nil {
		return time.Time{}, fmt.Errorf("data time %q: %w", s, err)
	}
	if next {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

type hour struct {
	t time.Time
	r row
}

// Completeness EPA asks of an average: 18 of 24 hours, 6 of 8.
const (
	min24h = 18
	min8h  = 6
)

func readings(region, station string, rows []row) ([]feeds.Reading, error) {
	var hs []hour
	for _, r := range rows {
		t, err := parseTime(r.DataTime)
		if err != nil {
			return nil, fmt.Errorf("airkorea %s: %w", region, err)
		}
		hs = append(hs, hour{t, r})
	}
	if len(hs) == 0 {
		return nil, nil
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].t.After(hs[j].t) }) // newest first
	latest := hs[0]
	var out []feeds.Reading
	add := func(metric string, v portal.Num) {
		if v.OK {
			out = append(out, feeds.Reading{Time: latest.t.UTC(), Region: region, Metric: metric, Value: v.V, Source: "airkorea", Station: station})
		}
	}
	add(telemetry.PM25, latest.r.PM25)
	add(telemetry.PM10, latest.r.PM10)
	add(telemetry.O3, latest.r.O3)
	add(telemetry.KHAI, latest.r.KHAI)
	add(telemetry.KHAIGrade, latest.r.KHAIGrade)
	pm25 := mean(hs, latest.t, 24, min24h, func(r row) portal.Num { return r.PM25 })
	pm10 := mean(hs, latest.t, 24, min24h, func(r row) portal.Num { return r.PM10 })
	o3 := mean(hs, latest.t, 8, min8h, func(r row) portal.Num { return r.O3 })
	o31h := math.NaN()
	if latest.r.O3.OK {
		o31h = latest.r.O3.V
	}
	if aqi := Overall(IndexPM25(pm25), IndexPM10(pm10), IndexO3(o3, o31h)); !math.IsNaN(aqi) {
		add(telemetry.AQI, portal.Num{V: aqi, OK: true})
	}
	return out, nil
}

// mean averages the valid values of the n hours ending at end; NaN with
// fewer than need of them.
func mean(hs []hour, end time.Time, n, need int, v func(row) portal.Num) float64 {
	from := end.Add(-time.Duration(n) * time.Hour)
	sum, cnt := 0.0, 0
	for _, h := range hs {
		if !h.t.After(from) || h.t.After(end) {
			continue
		}
		if x := v(h.r); x.OK && x.V >= 0 {
			sum += x.V
			cnt++
		}
	}
	if cnt < need {
		return math.NaN()
	}
	return sum / float64(cnt)
}
