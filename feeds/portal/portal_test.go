package portal

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/medbiz/medbiz/feeds"
)

func TestItemsForms(t *testing.T) {
	type it struct {
		A string `json:"a"`
	}
	for body, want := range map[string]int{
		`{"item":[{"a":"1"},{"a":"2"}]}`:  2,
		`{"item":{"a":"1"}}`:              1, // one item, as an object
		`[{"a":"1"},{"a":"2"},{"a":"3"}]`: 3, // a bare array
		`""`:                              0, // no items
		`{"item":""}`:                     0,
		`null`:                            0,
	} {
		var got Items[it]
		if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Item) != want {
			t.Errorf("%s: %d items, %v; want %d", body, len(got.Item), err, want)
		}
	}
	var bad Items[it]
	if err := json.Unmarshal([]byte(`12`), &bad); err == nil {
		t.Error("a number taken for items")
	}
}

func TestNumForms(t *testing.T) {
	for body, want := range map[string]Num{
		`"22.4"`: {22.4, true}, `22.4`: {22.4, true}, `"-"`: {}, `""`: {}, `null`: {}, `" 7 "`: {7, true},
		`"점검중"`: {}, // a status word where a value belongs
	} {
		var n Num
		if err := json.Unmarshal([]byte(body), &n); err != nil || n != want {
			t.Errorf("%s: %+v %v, want %+v", body, n, err, want)
		}
	}
}

func TestURLDecodesAnEncodedKeyOnce(t *testing.T) {
	for _, key := range []string{"a+b/c==", url.QueryEscape("a+b/c==")} {
		u, err := URL("https://example.test/svc?x=1", key, url.Values{"nx": {"60"}})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := url.Parse(u)
		if q := p.Query(); q.Get("serviceKey") != "a+b/c==" || q.Get("nx") != "60" || q.Get("x") != "1" {
			t.Errorf("key %q: %s", key, u)
		}
	}
	if _, err := URL("://", "k", nil); !feeds.IsPermanent(err) {
		t.Errorf("bad base url: %v", err)
	}
}

func TestResultCodes(t *testing.T) {
	now := time.Date(2026, 8, 5, 23, 0, 0, 0, KST)
	for code, want := range map[string]string{
		"00": "ok", "03": "nodata", "22": "rate", "10": "permanent", "11": "permanent", "30": "permanent",
		"31": "permanent", "32": "permanent", "01": "transient", "05": "transient", "99": "transient", "": "transient",
	} {
		err := CheckHeader(Header{ResultCode: code, ResultMsg: "MSG"}, now)
		var ra *feeds.RetryAfterError
		got := "transient"
		switch {
		case err == nil:
			got = "ok"
		case errors.Is(err, ErrNoData):
			got = "nodata"
		case errors.As(err, &ra):
			got = "rate"
			if ra.Wait != time.Hour+time.Minute {
				t.Errorf("quota wait %s at 23:00 KST, want until 00:01", ra.Wait)
			}
		case feeds.IsPermanent(err):
			got = "permanent"
		}
		if got != want {
			t.Errorf("code %q: %s (%v), want %s", code, got, err, want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 8, 5, 5, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120": 2 * time.Minute, "0": 0, now.Add(45 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"): 45 * time.Second,
		now.Add(-time.Minute).Format("Mon, 02 Jan 2006 15:04:05 GMT"): 0,
	} {
		if got, ok := retryAfter(v, now); !ok || got != want {
			t.Errorf("Retry-After %q: %s %v, want %s", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-5"} {
		if _, ok := retryAfter(v, now); ok {
			t.Errorf("Retry-After %q accepted", v)
		}
	}
}
