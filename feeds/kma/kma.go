// Package kma is the weather feed: the Korea Meteorological
// Administration's ultra-short-term observations (초단기실황,
// VilageFcstInfoService_2.0/getUltraSrtNcst on the public-data portal) for
// a grid point per region, turned into air temperature, relative
// humidity, NOAA's heat index and KMA's summer apparent temperature.
package kma

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/medbiz/medbiz/feeds"
	"github.com/medbiz/medbiz/feeds/portal"
	"github.com/medbiz/medbiz/telemetry"
)

// DefaultBaseURL is the service's endpoint on the public-data portal.
const DefaultBaseURL = "https://apis.data.go.kr/1360000/VilageFcstInfoService_2.0/getUltraSrtNcst"

// publishDelay is how long after the hour an observation can be asked
// for: the service makes it on the hour and serves it from 40 minutes past
// (the service guide's conservative figure).
const publishDelay = 40 * time.Minute

// Grid is a point of KMA's 5 km forecast grid (the guide's Lambert
// conformal conversion of latitude and longitude; Seoul City Hall is
// 60,127).
type Grid struct {
	NX int `json:"nx" mapstructure:"nx"`
	NY int `json:"ny" mapstructure:"ny"`
}

// Config configures the feed.
type Config struct {
	// BaseURL is the getUltraSrtNcst endpoint (DefaultBaseURL when empty).
	BaseURL string
	// ServiceKey is the portal's key for the service, in either of the
	// forms the portal shows (encoded or decoded).
	ServiceKey string
	// Regions maps a medbiz region id to its grid point.
	Regions map[string]Grid
	// Interval between polls of a region (default 30 minutes: a new
	// observation comes every hour).
	Interval time.Duration
	// HTTPClient is used for requests (default: 20 s timeout).
	HTTPClient *http.Client
	// Now is the clock that picks the observation hour (default time.Now).
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
		return nil, fmt.Errorf("kma: base url %q: %w", cfg.BaseURL, err)
	}
	if cfg.ServiceKey == "" {
		return nil, errors.New("kma: service key is required")
	}
	if len(cfg.Regions) == 0 {
		return nil, errors.New("kma: no regions")
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
	for r, g := range cfg.Regions {
		if !feeds.ValidRegion(r) {
			return nil, fmt.Errorf("kma: region %q is not a valid id", r)
		}
		// The grid spans 1..149 by 1..253.
		if g.NX < 1 || g.NX > 149 || g.NY < 1 || g.NY > 253 {
			return nil, fmt.Errorf("kma: region %s: grid %d,%d outside KMA's grid (nx 1-149, ny 1-253)", r, g.NX, g.NY)
		}
		s.regions = append(s.regions, r)
	}
	sort.Strings(s.regions)
	return s, nil
}

// Name implements feeds.Source.
func (s *Source) Name() string { return "kma" }

// Regions implements feeds.Source.
func (s *Source) Regions() []string { return append([]string(nil), s.regions...) }

// Interval implements feeds.Source.
func (s *Source) Interval() time.Duration { return s.cfg.Interval }

// answer is the service's JSON answer.
type answer struct {
	Response struct {
		Header portal.Header `json:"header"`
		Body   struct {
			Items portal.Items[item] `json:"items"`
		} `json:"body"`
	} `json:"response"`
}

type item struct {
	BaseDate  string     `json:"baseDate"`
	BaseTime  string     `json:"baseTime"`
	Category  string     `json:"category"`
	NX        int        `json:"nx"`
	NY        int        `json:"ny"`
	ObsrValue portal.Num `json:"obsrValue"`
}

// Poll implements feeds.Source: the newest published observation hour of
// the region's grid point.
func (s *Source) Poll(ctx context.Context, region string) ([]feeds.Reading, error) {
	g, ok := s.cfg.Regions[region]
	if !ok {
		return nil, feeds.Permanent(fmt.Errorf("kma: unknown region %q", region))
	}
	now := s.cfg.Now()
	hour := now.In(portal.KST).Add(-publishDelay).Truncate(time.Hour)
	u, err := portal.URL(s.cfg.BaseURL, s.cfg.ServiceKey, url.Values{
		"pageNo": {"1"}, "numOfRows": {"100"}, "dataType": {"JSON"},
		"base_date": {hour.Format("20060102")}, "base_time": {hour.Format("1504")},
		"nx": {strconv.Itoa(g.NX)}, "ny": {strconv.Itoa(g.NY)},
	})
	if err != nil {
		return nil, err
	}
	body, err := portal.Get(ctx, s.cfg.HTTPClient, u, now)
	if err != nil {
		return nil, fmt.Errorf("kma %s: %w", region, err)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("kma %s: malformed answer: %w", region, err)
	}
	if err := portal.CheckHeader(a.Response.Header, now); errors.Is(err, portal.ErrNoData) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("kma %s: %w", region, err)
	}
	return readings(region, g, a.Response.Body.Items.Item)
}

// readings turns the items of one observation hour into readings. Values
// of ±900 or beyond are the service's mark for a missing observation.
func readings(region string, g Grid, items []item) ([]feeds.Reading, error) {
	type obs struct{ temp, rh *float64 }
	hours := map[time.Time]*obs{}
	for _, it := range items {
		if !it.ObsrValue.OK || it.ObsrValue.V >= 900 || it.ObsrValue.V <= -900 {
			continue
		}
		if it.Category != "T1H" && it.Category != "REH" {
			continue // rain, wind: no rule reads them yet
		}
		t, err := time.ParseInLocation("200601021504", it.BaseDate+it.BaseTime, portal.KST)
		if err != nil {
			return nil, fmt.Errorf("kma %s: observation time %q %q: %w", region, it.BaseDate, it.BaseTime, err)
		}
		o := hours[t]
		if o == nil {
			o = &obs{}
			hours[t] = o
		}
		v := it.ObsrValue.V
		if it.Category == "T1H" {
			o.temp = &v
		} else {
			o.rh = &v
		}
	}
	station := strconv.Itoa(g.NX) + "," + strconv.Itoa(g.NY)
	var out []feeds.Reading
	add := func(t time.Time, metric string, v float64) {
		out = append(out, feeds.Reading{Time: t.UTC(), Region: region, Metric: metric, Value: round2(v), Source: "kma", Station: station})
	}
	for t, o := range hours {
		if o.temp != nil {
			add(t, telemetry.AirTemp, *o.temp)
		}
		if o.rh != nil {
			add(t, telemetry.Humidity, *o.rh)
		}
		if o.temp != nil && o.rh != nil {
			add(t, telemetry.HeatIndex, HeatIndex(*o.temp, *o.rh))
			add(t, telemetry.ApparentTemp, ApparentTemp(*o.temp, *o.rh))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Metric < out[j].Metric
	})
	return out, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
