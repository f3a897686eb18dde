package airkorea

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medbiz/medbiz/feeds"
	"github.com/medbiz/medbiz/feeds/internal/recorded"
	"github.com/medbiz/medbiz/feeds/portal"
)

var now = time.Date(2026, 8, 5, 14, 50, 0, 0, portal.KST)

func newSource(t *testing.T, base string) *Source {
	t.Helper()
	s, err := New(Config{BaseURL: base, ServiceKey: "key+with/slash==", Regions: map[string]string{"seoul-jongno": "종로구"},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func values(rs []feeds.Reading) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rs {
		out[r.Metric] = r.Value
	}
	return out
}

func TestPollStation(t *testing.T) {
	svc := recorded.New(t, "testdata", recorded.Reply{File: "ok.json"})
	rs, err := newSource(t, svc.URL).Poll(context.Background(), "seoul-jongno")
	if err != nil {
		t.Fatal(err)
	}
	q := svc.Queries()[0]
	for k, want := range map[string]string{"serviceKey": "key+with/slash==", "stationName": "종로구",
		"dataTerm": "DAILY", "returnType": "json", "ver": "1.3"} {
		if q.Get(k) != want {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), want)
		}
	}
	// The newest hour as reported; the AQI from the 24-hour PM2.5 mean (40
	// µg/m³ → 112, above PM10's 53 and ozone's 8-hour 67).
	want := map[string]float64{"pm25": 30, "pm10": 60, "o3": 0.060, "khai": 98, "khai_grade": 2, "aqi": 112}
	got := values(rs)
	if len(got) != len(want) {
		t.Fatalf("readings %v, want %v", got, want)
	}
	at := time.Date(2026, 8, 5, 5, 0, 0, 0, time.UTC) // 14:00 KST
	for _, r := range rs {
		if r.Value != want[r.Metric] || !r.Time.Equal(at) || r.Region != "seoul-jongno" || r.Station != "종로구" || r.Source != "airkorea" {
			t.Errorf("reading %+v, want %v at %s", r, want[r.Metric], at)
		}
		if err := r.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestPollAnswers(t *testing.T) {
	cases := []struct {
		name      string
		reply     recorded.Reply
		want      map[string]float64
		permanent bool
		wait      time.Duration
		errText   string
	}{
		// The newest hour is all "-": no hourly readings, but the averages
		// still hold 21 of 24 PM2.5 hours (mean 40.48 → 40.4 → 113).
		{name: "missing values", reply: recorded.Reply{File: "missing_latest.json"}, want: map[string]float64{"aqi": 113}},
		// A station with 8 hours: too few for the 24-hour PM averages
		// (EPA wants 18), enough for ozone's 8 hours.
		{name: "too few hours for PM", reply: recorded.Reply{File: "sparse.json"},
			want: map[string]float64{"pm25": 30, "pm10": 60, "o3": 0.060, "khai": 98, "khai_grade": 2, "aqi": 67}},
		{name: "empty item list", reply: recorded.Reply{File: "empty.json"}, want: map[string]float64{}},
		{name: "no data code", reply: recorded.Reply{File: "nodata.json"}, want: map[string]float64{}},
		{name: "error result code", reply: recorded.Reply{File: "bad_param.json"}, permanent: true, errText: "NO_MANDATORY_REQUEST_PARAMETERS_ERROR"},
		{name: "unregistered key (XML although JSON was asked)", reply: recorded.Reply{File: "bad_key.xml"}, permanent: true, errText: "SERVICE_KEY_IS_NOT_REGISTERED_ERROR"},
		{name: "daily quota spent", reply: recorded.Reply{File: "quota.xml"}, wait: 9*time.Hour + 11*time.Minute, errText: "LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR"},
		{name: "malformed JSON", reply: recorded.Reply{File: "malformed.json"}, errText: "malformed answer"},
		{name: "429", reply: recorded.Reply{Status: 429, Header: map[string]string{"Retry-After": "30"}}, wait: 30 * time.Second, errText: "HTTP 429"},
		{name: "503 Retry-After", reply: recorded.Reply{Status: 503, Header: map[string]string{"Retry-After": "600"}}, wait: 10 * time.Minute, errText: "HTTP 503"},
		{name: "502", reply: recorded.Reply{Status: 502}, errText: "HTTP 502"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := recorded.New(t, "testdata", recorded.Reply{File: "ok.json"})
			svc.Answer(c.reply)
			rs, err := newSource(t, svc.URL).Poll(context.Background(), "seoul-jongno")
			if c.errText == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := values(rs)
				if len(got) != len(c.want) {
					t.Fatalf("readings %v, want %v", got, c.want)
				}
				for k, v := range c.want {
					if got[k] != v {
						t.Errorf("%s = %v, want %v", k, got[k], v)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; readings %+v", rs)
			}
			if !strings.Contains(err.Error(), c.errText) || !strings.Contains(err.Error(), "seoul-jongno") {
				t.Errorf("error %q does not name %q and the region", err, c.errText)
			}
			if strings.Contains(err.Error(), "slash") || strings.Contains(err.Error(), url.QueryEscape("key+with")) {
				t.Errorf("error %q shows the service key", err)
			}
			if feeds.IsPermanent(err) != c.permanent {
				t.Errorf("permanent = %v, want %v", feeds.IsPermanent(err), c.permanent)
			}
			var ra *feeds.RetryAfterError
			if errors.As(err, &ra) != (c.wait > 0) || (c.wait > 0 && ra.Wait != c.wait) {
				t.Errorf("rate limit %+v, want wait %s", ra, c.wait)
			}
		})
	}
}

func TestMidnightIs24(t *testing.T) {
	got, err := parseTime("2026-08-04 24:00")
	if err != nil || !got.Equal(time.Date(2026, 8, 5, 0, 0, 0, 0, portal.KST)) {
		t.Errorf("24:00 = %v, %v", got, err)
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("bad time accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	good := Config{ServiceKey: "k", Regions: map[string]string{"seoul": "종로구"}}
	for name, mut := range map[string]func(*Config){
		"no key":     func(c *Config) { c.ServiceKey = "" },
		"no regions": func(c *Config) { c.Regions = nil },
		"bad region": func(c *Config) { c.Regions = map[string]string{"Jongno Gu": "종로구"} },
		"no station": func(c *Config) { c.Regions = map[string]string{"seoul": " "} },
	} {
		c := good
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
