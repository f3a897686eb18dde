package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
)

// Flavor is the InfluxDB API family a server speaks.
type Flavor int

const (
	// V1 is InfluxDB 1.x (and the embedded engine): a Farm is a database
	// farm_<id> with retention policy autogen.
	V1 Flavor = 1
	// V2 is InfluxDB 2.x: a Farm is a bucket farm_<id> plus a DBRP mapping
	// so that InfluxQL on /query reaches it.
	V2 Flavor = 2
	// V3 is InfluxDB 3 (Core/Enterprise): it accepts /api/v2/write and
	// InfluxQL on /query, and creates a database on its first write; it has
	// no buckets or DBRP API.
	V3 Flavor = 3
)

func (f Flavor) String() string { return fmt.Sprintf("v%d", int(f)) }

// DefaultHTTPTimeout bounds every HTTP request when ClientConfig leaves it 0.
const DefaultHTTPTimeout = 10 * time.Second

// ClientConfig says how to reach an InfluxDB server.
type ClientConfig struct {
	URL   string // http://host:port
	Token string // 2.x/3.x API token; for 1.x with auth "user:password"; empty without auth
	Org   string // 2.x organisation name
	// Logger gets a child with component=storage.
	Logger      *slog.Logger
	HTTPTimeout time.Duration
}

// Client writes to and reads from one InfluxDB server, 1.x, 2.x or 3.x. It
// is safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	org     string
	flavor  Flavor
	version string
	log     *slog.Logger
	http    *http.Client
	influx  influxdb2.Client

	mu      sync.Mutex
	writers map[string]api.WriteAPIBlocking
	orgID   string // 2.x, looked up once
}

// BucketName is the bucket (2.x) or database (1.x) that holds a Farm.
func BucketName(farm string) string { return "farm_" + farm }

// NewClient pings the server to learn its flavor from X-Influxdb-Version and
// returns a client for it. An unreachable server is a retryable error.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("influxdb client: bad url %q", cfg.URL)
	}
	timeout := cfg.HTTPTimeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// One store writer plus API readers per process: keep a few idle
	// connections instead of the default 2 so writes don't reconnect.
	tr.MaxIdleConnsPerHost = 16
	c := &Client{
		base:    u,
		token:   cfg.Token,
		org:     cfg.Org,
		log:     log.With("component", "storage"),
		http:    &http.Client{Timeout: timeout, Transport: tr},
		writers: make(map[string]api.WriteAPIBlocking),
	}
	version, err := c.ping(ctx)
	if err != nil {
		return nil, err
	}
	c.version = version
	c.flavor = flavorOf(version)
	if c.flavor == V2 && c.org == "" {
		return nil, errors.New("influxdb client: org is required for InfluxDB 2.x")
	}
	secs := uint(timeout / time.Second)
	if secs == 0 {
		secs = 1
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPClient(c.http).
		SetHTTPRequestTimeout(secs).
		SetPrecision(time.Nanosecond).
		SetLogLevel(0)
	c.influx = influxdb2.NewClientWithOptions(u.String(), cfg.Token, opts)
	c.log.Debug("influxdb connected", "url", u.Redacted(), "version", version, "flavor", c.flavor.String())
	return c, nil
}

// flavorOf maps the X-Influxdb-Version header: "1.8.10" is 1.x, "v2.7.1" or
// "2.7.1" is 2.x, "3.x"/"v3.x" is 3.x. An empty or odd header means an old
// or proxied 1.x, the API every flavor shares best.
func flavorOf(version string) Flavor {
	v := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(version)), "v")
	switch {
	case strings.HasPrefix(v, "2."), v == "2":
		return V2
	case strings.HasPrefix(v, "3."), v == "3":
		return V3
	default:
		return V1
	}
}

// Flavor is the API family detected by NewClient.
func (c *Client) Flavor() Flavor { return c.flavor }

// Version is the server's X-Influxdb-Version.
func (c *Client) Version() string { return c.version }

// Close releases idle connections. The Client must not be used afterwards.
func (c *Client) Close() {
	c.influx.Close()
	c.http.CloseIdleConnections()
}

// Ping checks that the server answers /ping.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.ping(ctx)
	return err
}

func (c *Client) ping(ctx context.Context) (string, error) {
	resp, err := c.do(ctx, "ping", http.MethodGet, "/ping", nil, nil)
	if err != nil {
		return "", err
	}
	return resp.Header.Get("X-Influxdb-Version"), nil
}

// do sends one request and turns non-2xx answers into *Error carrying the
// server's message. The caller gets the response with its body fully read
// into body (responses here are small JSON documents).
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body any) (*response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode body: %w", op, err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, transportError(op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Message: serverMessage(resp, data), Retryable: retryableStatus(resp.StatusCode)}
	}
	return &response{Header: resp.Header, Body: data}, nil
}

type response struct {
	Header http.Header
	Body   []byte
}

func (c *Client) authorize(req *http.Request) {
	if c.token == "" {
		return
	}
	if c.flavor == V1 {
		// 1.x with auth takes "user:password" as the v2-compatible token
		// form too; Basic keeps it out of URLs and logs.
		if user, pass, ok := strings.Cut(c.token, ":"); ok {
			req.SetBasicAuth(user, pass)
			return
		}
	}
	req.Header.Set("Authorization", "Token "+c.token)
}

// serverMessage extracts the error text every InfluxDB line puts in its
// answer: 1.x {"error":…} or X-Influxdb-Error, 2.x {"code","message"}.
func serverMessage(resp *http.Response, body []byte) string {
	var m struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Code    string `json:"code"`
	}
	if json.Unmarshal(body, &m) == nil {
		switch {
		case m.Error != "":
			return m.Error
		case m.Message != "":
			return m.Message
		case m.Code != "":
			return m.Code
		}
	}
	if h := resp.Header.Get("X-Influxdb-Error"); h != "" {
		return h
	}
	return strings.TrimSpace(string(body))
}
