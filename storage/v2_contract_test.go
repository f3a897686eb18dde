package storage

// InfluxDB 2.x cannot run on these machines, so the 2.x path is tested
// against a fake that follows InfluxData's published API (v2 OpenAPI:
// /ping, /api/v2/orgs, /api/v2/buckets, /api/v2/dbrps, /api/v2/write, and
// the v1-compatible /query), asserting the requests the client makes.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeV2 struct {
	t       *testing.T
	version string
	token   string

	mu       sync.Mutex
	buckets  map[string]string // name → id
	dbrps    []dbrpV2
	requests []string // "METHOD /path"
	writes   []fakeWrite
	queries  []map[string]string
}

type fakeWrite struct {
	org, bucket, precision, body string
}

func newFakeV2(t *testing.T) (*fakeV2, *httptest.Server) {
	f := &fakeV2{t: t, version: "v2.7.11", token: "s3cret", buckets: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeV2) count(req string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r == req {
			n++
		}
	}
	return n
}

func jsonAnswer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeV2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	w.Header().Set("X-Influxdb-Version", f.version)
	w.Header().Set("X-Influxdb-Build", "OSS")
	if r.URL.Path == "/ping" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Token "+f.token {
		jsonAnswer(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "unauthorized access"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/orgs":
		var orgs []map[string]string
		if q.Get("org") == "medbiz" {
			orgs = append(orgs, map[string]string{"id": "0a1b2c3d4e5f6071", "name": "medbiz"})
		}
		jsonAnswer(w, http.StatusOK, map[string]any{"orgs": orgs})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/buckets":
		if q.Get("orgID") != "0a1b2c3d4e5f6071" {
			f.t.Errorf("list buckets with orgID %q", q.Get("orgID"))
		}
		var list []bucketV2
		if id, ok := f.buckets[q.Get("name")]; ok {
			list = append(list, bucketV2{ID: id, Name: q.Get("name"), OrgID: q.Get("orgID")})
		}
		jsonAnswer(w, http.StatusOK, map[string]any{"buckets": list})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/buckets":
		var b struct {
			OrgID          string `json:"orgID"`
			Name           string `json:"name"`
			RetentionRules []any  `json:"retentionRules"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.OrgID != "0a1b2c3d4e5f6071" || b.Name == "" || r.Header.Get("Content-Type") != "application/json" {
			f.t.Errorf("create bucket body %s (%v)", body, err)
			jsonAnswer(w, http.StatusBadRequest, map[string]string{"code": "invalid", "message": "bad body"})
			return
		}
		if _, ok := f.buckets[b.Name]; ok {
			jsonAnswer(w, http.StatusUnprocessableEntity, map[string]string{"code": "conflict", "message": "bucket with name " + b.Name + " already exists"})
			return
		}
		id := fmt.Sprintf("b%015d", len(f.buckets)+1)
		f.buckets[b.Name] = id
		jsonAnswer(w, http.StatusCreated, bucketV2{ID: id, Name: b.Name, OrgID: b.OrgID})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v2/buckets/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/v2/buckets/")
		for name, bid := range f.buckets {
			if bid == id {
				delete(f.buckets, name)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		jsonAnswer(w, http.StatusNotFound, map[string]string{"code": "not found", "message": "bucket not found"})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/dbrps":
		var list []dbrpV2
		for _, m := range f.dbrps {
			if m.OrgID == q.Get("orgID") && (q.Get("db") == "" || q.Get("db") == m.Database) {
				list = append(list, m)
			}
		}
		jsonAnswer(w, http.StatusOK, map[string]any{"content": list})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/dbrps":
		var m dbrpV2
		if err := json.Unmarshal(body, &m); err != nil {
			f.t.Errorf("create dbrp body %s: %v", body, err)
		}
		// Field names as in the published schema (DBRPCreate).
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		for _, k := range []string{"orgID", "bucketID", "database", "retention_policy", "default"} {
			if _, ok := raw[k]; !ok {
				f.t.Errorf("create dbrp body lacks %q: %s", k, body)
			}
		}
		m.ID = fmt.Sprintf("d%015d", len(f.dbrps)+1)
		f.dbrps = append(f.dbrps, m)
		jsonAnswer(w, http.StatusCreated, map[string]any{"content": m})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/write":
		if _, ok := f.buckets[q.Get("bucket")]; !ok || q.Get("org") != "medbiz" {
			jsonAnswer(w, http.StatusNotFound, map[string]string{"code": "not found", "message": fmt.Sprintf("bucket %q not found", q.Get("bucket"))})
			return
		}
		if strings.Contains(string(body), `hr="`) {
			jsonAnswer(w, http.StatusUnprocessableEntity, map[string]string{"code": "unprocessable entity",
				"message": `failure writing points to database: partial write: field type conflict: input field "hr" on measurement "vitals" is type string, already exists as type float dropped=1`})
			return
		}
		f.writes = append(f.writes, fakeWrite{org: q.Get("org"), bucket: q.Get("bucket"), precision: q.Get("precision"), body: string(body)})
		w.WriteHeader(http.StatusNoContent)
	case (r.Method == http.MethodGet || r.Method == http.MethodPost) && r.URL.Path == "/query":
		f.queries = append(f.queries, map[string]string{"db": q.Get("db"), "q": q.Get("q"), "params": q.Get("params"), "epoch": q.Get("epoch")})
		ns := time.Date(2026, 11, 27, 3, 40, 0, 123000000, time.UTC).UnixNano()
		jsonAnswer(w, http.StatusOK, map[string]any{"results": []any{map[string]any{"statement_id": 0,
			"series": []any{map[string]any{"name": "vitals", "columns": []string{"time", "hr"}, "values": [][]any{{ns, 72.5}}}}}}})
	default:
		jsonAnswer(w, http.StatusNotFound, map[string]string{"code": "not found", "message": "path not found"})
	}
}

func TestV2ContractBucketsDBRPWriteQuery(t *testing.T) {
	f, srv := newFakeV2(t)
	ctx := context.Background()
	c, err := NewClient(ctx, ClientConfig{URL: srv.URL, Token: "s3cret", Org: "medbiz"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Flavor() != V2 {
		t.Fatalf("flavor %v for %s", c.Flavor(), f.version)
	}
	for range 2 {
		if err := c.EnsureBucket(ctx, "f1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("POST /api/v2/buckets"); n != 1 {
		t.Fatalf("bucket created %d times", n)
	}
	if n := f.count("POST /api/v2/dbrps"); n != 1 {
		t.Fatalf("dbrp created %d times", n)
	}
	f.mu.Lock()
	m, bucketID := f.dbrps[0], f.buckets["farm_f1"]
	f.mu.Unlock()
	if m.Database != "farm_f1" || m.RetentionPolicy != "autogen" || !m.Default || m.BucketID != bucketID || m.OrgID != "0a1b2c3d4e5f6071" {
		t.Fatalf("dbrp %+v", m)
	}

	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base.Add(123*time.Millisecond), "hr", 72.5)}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	wr := f.writes[0]
	f.mu.Unlock()
	wantLine := fmt.Sprintf("vitals,device=d1,patient=p1 hr=72.5 %d", base.Add(123*time.Millisecond).UnixNano())
	if wr.org != "medbiz" || wr.bucket != "farm_f1" || wr.precision != "ns" || strings.TrimSpace(wr.body) != wantLine {
		t.Fatalf("write %+v, want body %q", wr, wantLine)
	}

	// Errors: 422 field type conflict is permanent with the server's text;
	// a missing bucket is "not found".
	err = write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", "x")})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "field type conflict") {
		t.Fatalf("type conflict: %v", err)
	}
	err = write(ctx, c, "f9", []Point{vital("p1", "d1", base, "hr", 1.0)})
	if err == nil || IsRetryable(err) || !IsNotFound(err) {
		t.Fatalf("missing bucket: %v", err)
	}

	got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Hour), Every: time.Minute, Fn: "max"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].V != 72.5 || !got[0].T.Equal(base.Add(123*time.Millisecond)) {
		t.Fatalf("query answer %v", got)
	}
	f.mu.Lock()
	qr := f.queries[0]
	f.mu.Unlock()
	var params map[string]any
	if err := json.Unmarshal([]byte(qr["params"]), &params); err != nil {
		t.Fatalf("params %q: %v", qr["params"], err)
	}
	wantQ := `SELECT max("hr") FROM "vitals" WHERE "patient" = $patient AND time >= $start AND time < $stop AND "source" = $source GROUP BY time(1m) fill(none)`
	if qr["db"] != "farm_f1" || qr["epoch"] != "ns" || qr["q"] != wantQ || params["patient"] != "p1" || params["start"] != "2026-11-27T03:40:00Z" {
		t.Fatalf("query request %v", qr)
	}

	if err := c.DropBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if n := f.count("DELETE /api/v2/buckets/b000000000000001"); n != 1 {
		t.Fatalf("bucket delete requests: %d", n)
	}
	if err := c.DropBucket(ctx, "f1"); err != nil { // already gone
		t.Fatal(err)
	}
}

func TestV2ContractAuthAndOrgErrors(t *testing.T) {
	_, srv := newFakeV2(t)
	ctx := context.Background()
	if _, err := NewClient(ctx, ClientConfig{URL: srv.URL, Token: "s3cret"}); err == nil {
		t.Fatal("2.x without org accepted")
	}
	c, err := NewClient(ctx, ClientConfig{URL: srv.URL, Token: "wrong", Org: "medbiz"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.EnsureBucket(ctx, "f1")
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("bad token: %v", err)
	}
	c2, err := NewClient(ctx, ClientConfig{URL: srv.URL, Token: "s3cret", Org: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.EnsureBucket(ctx, "f1"); err == nil || !strings.Contains(err.Error(), "organization not found") {
		t.Fatalf("unknown org: %v", err)
	}
}

func TestFlavorDetection(t *testing.T) {
	for v, want := range map[string]Flavor{"1.8.10": V1, "": V1, "v2.7.11": V2, "2.7.1": V2, "v3.0.1": V3, "3.1.0": V3, "1.11.8": V1} {
		if got := flavorOf(v); got != want {
			t.Errorf("flavorOf(%q) = %v, want %v", v, got, want)
		}
	}
	f, srv := newFakeV2(t)
	f.mu.Lock()
	f.version = "3.0.1"
	f.mu.Unlock()
	c, err := NewClient(context.Background(), ClientConfig{URL: srv.URL, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// 3.x creates databases on first write: nothing to provision.
	if err := c.EnsureBucket(context.Background(), "f1"); err != nil || f.count("GET /ping") != 1 {
		t.Fatalf("3.x ensure: %v", err)
	}
	f.mu.Lock()
	n := len(f.requests)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("3.x ensure made %d requests besides ping", n-1)
	}
}
