// Package portal holds what the adapters of Korea's public-data portal
// (data.go.kr) share: building a request with a service key, the answer
// envelope (response.header.resultCode), the portal's result codes, and
// its error forms: an XML OpenAPI_ServiceResponse from the gateway (for an
// unknown service key, even when JSON was asked), an XML response header
// from some services, HTTP 429/503 with Retry-After. Each is turned into
// an error the feeds poller can act on (feeds.RetryAfterError,
// feeds.PermanentError, or a plain transient error).
package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/medbiz/medbiz/feeds"
)

// maxBody bounds an answer; a day of one station's hourly values is a few
// kilobytes.
const maxBody = 4 << 20

// ErrNoData is the portal's "no data" result (code 03): not a failure, the
// adapter returns no readings.
var ErrNoData = errors.New("no data")

// Header is the JSON answer header every portal service sends.
type Header struct {
	ResultCode string `json:"resultCode" xml:"resultCode"`
	ResultMsg  string `json:"resultMsg" xml:"resultMsg"`
}

// KST is Korea Standard Time (UTC+9, no daylight saving): the services'
// dates and hours are in it.
var KST = time.FixedZone("KST", 9*3600)

// URL joins base and params and adds the service key. The portal hands out
// each key in a URL-encoded and a decoded form; either may be configured:
// an encoded one is decoded first, so it is not encoded twice (which the
// portal answers with SERVICE_KEY_IS_NOT_REGISTERED_ERROR).
func URL(base, key string, params url.Values) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", feeds.Permanent(fmt.Errorf("base url %q: %w", base, err))
	}
	if strings.Contains(key, "%") {
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	q.Set("serviceKey", key)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Get fetches u and returns the body of a 200 answer that is not one of
// the portal's XML error forms. Other answers become classified errors.
func Get(ctx context.Context, c *http.Client, u string, now time.Time) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, feeds.Permanent(fmt.Errorf("request: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		// The client's error repeats the URL, service key included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("get %s: %w", redact(u), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s: %w", redact(u), err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("answer of %s longer than %d bytes", redact(u), maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, body, now)
	}
	if err := xmlError(body, now); err != nil {
		return nil, err
	}
	return body, nil
}

// statusError classifies a non-200 answer.
func statusError(resp *http.Response, body []byte, now time.Time) error {
	err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body))
	wait, hasWait := retryAfter(resp.Header.Get("Retry-After"), now)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &feeds.RetryAfterError{Wait: wait, Err: err}
	case resp.StatusCode == http.StatusServiceUnavailable && hasWait:
		return &feeds.RetryAfterError{Wait: wait, Err: err}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
		resp.StatusCode == http.StatusNotFound:
		return feeds.Permanent(err)
	}
	return err
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// gatewayError is the portal gateway's own XML answer.
type gatewayError struct {
	XMLName xml.Name `xml:"OpenAPI_ServiceResponse"`
	Header  struct {
		ErrMsg     string `xml:"errMsg"`
		AuthMsg    string `xml:"returnAuthMsg"`
		ReasonCode string `xml:"returnReasonCode"`
	} `xml:"cmmMsgHeader"`
}

// xmlHeader is a service's XML answer, sent by some services for errors
// whatever dataType was asked for.
type xmlHeader struct {
	XMLName xml.Name `xml:"response"`
	Header  Header   `xml:"header"`
}

// xmlError recognises the XML error forms in a 200 answer.
func xmlError(body []byte, now time.Time) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '<' {
		return nil
	}
	var g gatewayError
	if xml.Unmarshal(b, &g) == nil && g.XMLName.Local != "" {
		return CheckHeader(Header{ResultCode: g.Header.ReasonCode, ResultMsg: g.Header.AuthMsg}, now)
	}
	var h xmlHeader
	if xml.Unmarshal(b, &h) == nil && h.XMLName.Local != "" && h.Header.ResultCode != "" {
		if err := CheckHeader(h.Header, now); err != nil {
			return err
		}
		return fmt.Errorf("XML answer where JSON was asked (resultCode %s)", h.Header.ResultCode)
	}
	return fmt.Errorf("unrecognised XML answer: %s", snippet(body))
}

// CheckHeader maps the portal's result codes to errors: nil for success,
// ErrNoData for "no data", a rate limit for the daily quota, permanent
// errors for what a retry cannot change, transient ones otherwise.
func CheckHeader(h Header, now time.Time) error {
	code := strings.TrimSpace(h.ResultCode)
	err := fmt.Errorf("service answered %s %s", code, h.ResultMsg)
	switch code {
	case "00", "0":
		return nil
	case "03":
		return ErrNoData
	case "22":
		// LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR: the daily quota
		// is spent; it renews at midnight, Korean time.
		return &feeds.RetryAfterError{Wait: untilMidnightKST(now), Err: err}
	case "10", "11", "12", "20", "21", "30", "31", "32", "33":
		// Bad or missing parameters, no such service, access denied, key
		// disabled, unregistered or expired, IP not registered, unsigned.
		return feeds.Permanent(err)
	case "":
		return errors.New("answer has no resultCode")
	}
	return err // 01 application, 02 database, 04 HTTP, 05 timeout, 99 unknown
}

func untilMidnightKST(now time.Time) time.Duration {
	k := now.In(KST)
	midnight := time.Date(k.Year(), k.Month(), k.Day()+1, 0, 1, 0, 0, KST)
	return midnight.Sub(now)
}

// snippet is the start of a body for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// redact hides the service key in URLs that go into errors and logs.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(url)"
	}
	q := p.Query()
	if q.Has("serviceKey") {
		q.Set("serviceKey", "REDACTED")
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// Num is one of the portal's values. The services send numbers as JSON
// strings ("22.4"), sometimes as JSON numbers, and a missing value as "-",
// an empty string or null; OK is false for those and for any other text.
type Num struct {
	V  float64
	OK bool
}

// UnmarshalJSON reads a string, a number or null.
func (n *Num) UnmarshalJSON(b []byte) error {
	*n = Num{}
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		u, err := strconv.Unquote(s)
		if err != nil {
			return fmt.Errorf("value %s: %w", s, err)
		}
		s = strings.TrimSpace(u)
		if s == "" || s == "-" {
			return nil
		}
	}
	// Anything else that is not a number (a status word in place of a
	// value) is missing too: failing the whole answer would lose the
	// station's other values.
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		n.V, n.OK = v, true
	}
	return nil
}

// Items is a portal answer's item list. Services write it as
// {"item": [...]}, as {"item": {...}} when there is one, as a bare array,
// or as "" when there are none.
type Items[T any] struct{ Item []T }

// UnmarshalJSON reads every form.
func (it *Items[T]) UnmarshalJSON(b []byte) error {
	it.Item = nil
	s := bytes.TrimSpace(b)
	switch {
	case len(s) == 0 || string(s) == "null" || string(s) == `""`:
		return nil
	case s[0] == '[':
		return json.Unmarshal(s, &it.Item)
	case s[0] != '{':
		return fmt.Errorf("items: unexpected %s", snippet(s))
	}
	var wrap struct {
		Item json.RawMessage `json:"item"`
	}
	if err := json.Unmarshal(s, &wrap); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	w := bytes.TrimSpace(wrap.Item)
	switch {
	case len(w) == 0 || string(w) == "null" || string(w) == `""`:
		return nil
	case w[0] == '[':
		return json.Unmarshal(w, &it.Item)
	}
	var one T
	if err := json.Unmarshal(w, &one); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	it.Item = []T{one}
	return nil
}
