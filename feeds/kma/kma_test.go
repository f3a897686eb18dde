package kma

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medbiz/medbiz/feeds"
	"github.com/medbiz/medbiz/feeds/internal/recorded"
	"github.com/medbiz/medbiz/feeds/portal"
)

func newService(t *testing.T) *recorded.Service {
	return recorded.New(t, "testdata", recorded.Reply{File: "ok.json"})
}

// 14:45 KST on 5 August 2026: the 14:00 observation is out.
var now = time.Date(2026, 8, 5, 14, 45, 0, 0, portal.KST)

const key = "abc+def/ghi=="

func newSource(t *testing.T, base string) *Source {
	t.Helper()
	s, err := New(Config{BaseURL: base, ServiceKey: url.QueryEscape(key), Regions: map[string]Grid{"seoul": {60, 127}},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPollObservation(t *testing.T) {
	svc := newService(t)
	src := newSource(t, svc.URL)
	rs, err := src.Poll(context.Background(), "seoul")
	if err != nil {
		t.Fatal(err)
	}
	q := svc.Queries()[0]
	// The key configured in its encoded form reaches the portal decoded
	// once, not twice.
	for k, want := range map[string]string{"serviceKey": key, "base_date": "20260805", "base_time": "1400",
		"nx": "60", "ny": "127", "dataType": "JSON"} {
		if q.Get(k) != want {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), want)
		}
	}
	at := time.Date(2026, 8, 5, 5, 0, 0, 0, time.UTC) // 14:00 KST
	want := map[string]float64{
		"air_temp": 33.1, "humidity": 62,
		"heat_index": math.Round(HeatIndex(33.1, 62)*100) / 100, "apparent_temp": math.Round(ApparentTemp(33.1, 62)*100) / 100,
	}
	if len(rs) != len(want) {
		t.Fatalf("readings %+v", rs)
	}
	for _, r := range rs {
		if w, ok := want[r.Metric]; !ok || r.Value != w || !r.Time.Equal(at) || r.Region != "seoul" || r.Source != "kma" || r.Station != "60,127" {
			t.Errorf("reading %+v, want %s=%v at %s", r, r.Metric, w, at)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("reading %+v invalid: %v", r, err)
		}
	}
	// 33.1 °C at 62 %: NOAA's heat index is about 40 °C, KMA's apparent
	// temperature at the advisory level.
	if hi := want["heat_index"]; hi < 39 || hi > 42 {
		t.Errorf("heat index %v", hi)
	}
	if at := want["apparent_temp"]; at < 33 || at > 36 {
		t.Errorf("apparent temperature %v", at)
	}
}

func TestPollAsksForThePublishedHour(t *testing.T) {
	svc := newService(t)
	src := newSource(t, svc.URL)
	src.cfg.Now = func() time.Time { return time.Date(2026, 8, 5, 0, 20, 0, 0, portal.KST) }
	if _, err := src.Poll(context.Background(), "seoul"); err != nil {
		t.Fatal(err)
	}
	// At 00:20 the midnight observation is not out yet: yesterday 23:00.
	if q := svc.Queries()[0]; q.Get("base_date") != "20260804" || q.Get("base_time") != "2300" {
		t.Errorf("asked for %s %s", q.Get("base_date"), q.Get("base_time"))
	}
}

func TestPollAnswers(t *testing.T) {
	retryAt := now.Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name      string
		reply     recorded.Reply
		metrics   []string // readings expected on success
		permanent bool
		wait      time.Duration // > 0: a rate limit with this wait
		errText   string
	}{
		{name: "missing values", reply: recorded.Reply{File: "missing.json"}, metrics: []string{"humidity"}},
		{name: "no data code", reply: recorded.Reply{File: "nodata.json"}},
		{name: "empty item list", reply: recorded.Reply{File: "empty_items.json"}},
		{name: "error result code", reply: recorded.Reply{File: "bad_param.json"}, permanent: true, errText: "INVALID_REQUEST_PARAMETER_ERROR"},
		{name: "XML error header", reply: recorded.Reply{File: "bad_param.xml"}, permanent: true, errText: "INVALID_REQUEST_PARAMETER_ERROR"},
		{name: "unregistered key", reply: recorded.Reply{File: "bad_key.xml"}, permanent: true, errText: "SERVICE_KEY_IS_NOT_REGISTERED_ERROR"},
		{name: "daily quota spent", reply: recorded.Reply{File: "quota.xml"}, wait: 9*time.Hour + 16*time.Minute, errText: "LIMITED_NUMBER"},
		{name: "malformed JSON", reply: recorded.Reply{File: "malformed.json"}, errText: "malformed answer"},
		{name: "429 Retry-After seconds", reply: recorded.Reply{Status: 429, Header: map[string]string{"Retry-After": "120"}}, wait: 2 * time.Minute, errText: "HTTP 429"},
		{name: "503 Retry-After date", reply: recorded.Reply{Status: 503, Header: map[string]string{"Retry-After": retryAt}}, wait: 90 * time.Second, errText: "HTTP 503"},
		{name: "503 without Retry-After", reply: recorded.Reply{Status: 503}, errText: "HTTP 503"},
		{name: "500", reply: recorded.Reply{Status: 500}, errText: "HTTP 500"},
		{name: "403", reply: recorded.Reply{Status: 403}, permanent: true, errText: "HTTP 403"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := newService(t)
			svc.Answer(c.reply)
			rs, err := newSource(t, svc.URL).Poll(context.Background(), "seoul")
			if c.errText == "" {
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range rs {
					got = append(got, r.Metric)
				}
				if strings.Join(got, ",") != strings.Join(c.metrics, ",") {
					t.Errorf("readings %v, want %v", got, c.metrics)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; readings %+v", rs)
			}
			if !strings.Contains(err.Error(), c.errText) || !strings.Contains(err.Error(), "seoul") {
				t.Errorf("error %q does not name %q and the region", err, c.errText)
			}
			if strings.Contains(err.Error(), "def") {
				t.Errorf("error %q shows the service key", err)
			}
			if feeds.IsPermanent(err) != c.permanent {
				t.Errorf("permanent = %v, want %v (%v)", feeds.IsPermanent(err), c.permanent, err)
			}
			var ra *feeds.RetryAfterError
			if errors.As(err, &ra) != (c.wait > 0) || (c.wait > 0 && ra.Wait != c.wait) {
				t.Errorf("rate limit %+v, want wait %s", ra, c.wait)
			}
		})
	}
}

func TestNetworkErrorHidesKey(t *testing.T) {
	// A port nothing listens on any more.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, err := newSource(t, base).Poll(context.Background(), "seoul")
	if err == nil || feeds.IsPermanent(err) {
		t.Fatalf("closed server: %v", err)
	}
	if strings.Contains(err.Error(), "def") || !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("error %q", err)
	}
}

func TestConfigErrors(t *testing.T) {
	good := Config{ServiceKey: "k", Regions: map[string]Grid{"seoul": {60, 127}}}
	for name, mut := range map[string]func(*Config){
		"no key":      func(c *Config) { c.ServiceKey = "" },
		"no regions":  func(c *Config) { c.Regions = nil },
		"bad region":  func(c *Config) { c.Regions = map[string]Grid{"Seoul City": {60, 127}} },
		"off grid":    func(c *Config) { c.Regions = map[string]Grid{"seoul": {0, 127}} },
		"bad baseurl": func(c *Config) { c.BaseURL = "not a url" },
	} {
		c := good
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := New(good)
	if err != nil || s.Interval() != 30*time.Minute || s.cfg.BaseURL != DefaultBaseURL {
		t.Errorf("defaults: %v %+v", err, s)
	}
}
