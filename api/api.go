// Package api owns medbiz's HTTP API: provisioning (admin token), series
// and alert reads (farm tokens), health, readiness, metrics and the OpenAPI
// document generated from the Go types by huma.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/storage"
)

// Store is what the API needs of InfluxDB.
type Store interface {
	EnsureBucket(ctx context.Context, farm string) error
	QuerySeries(ctx context.Context, farm string, q storage.SeriesQuery) ([]storage.SeriesPoint, error)
	QueryRows(ctx context.Context, farm, influxql string, params map[string]any) ([]storage.Row, error)
}

// Deps are the components behind the API.
type Deps struct {
	Registry   *registry.Registry
	Store      Store
	JS         jetstream.JetStream
	AdminToken string
	// Ready reports nil once every component accepts work.
	Ready    func(context.Context) error
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	Now      func() time.Time
}

// API is the HTTP handler of medbiz.
type API struct {
	d   Deps
	mux *http.ServeMux
	log *slog.Logger
}

func init() {
	// The API answers every client error with 400 and a message naming the
	// field (docs/contract.md#ids-and-errors); huma's default for a failed
	// validation is 422.
	base := huma.NewError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		if status == http.StatusUnprocessableEntity {
			status = http.StatusBadRequest
		}
		return base(status, msg, errs...)
	}
}

// New builds the handler with every route registered.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	a := &API{d: d, mux: http.NewServeMux(), log: d.Logger.With("component", "api")}
	cfg := huma.DefaultConfig("medbiz API", "1.0.0")
	cfg.Info.Description = "Provisioning, time-series reads and alerts of medbiz, the home health telemetry broker. " +
		"Admin calls take the admin token, farm calls a token of that farm, both as `Authorization: Bearer <token>`."
	cfg.Formats = map[string]huma.Format{
		"application/json": huma.DefaultJSONFormat,
		"json":             huma.DefaultJSONFormat,
		"text/csv":         csvFormat,
		"csv":              csvFormat,
	}
	// No $schema links in answers: they wrap bodies in generated types,
	// which the CSV format could then not recognise.
	cfg.CreateHooks = nil
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer"},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	cfg.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", schemaName)
	api := humago.New(a.mux, cfg)
	a.registerProvisioning(api)
	a.registerReads(api)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	if d.Gatherer != nil {
		a.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	}
	return a
}

// alertType is the alert message, rules.Event; the document calls it Alert.
var alertType = reflect.TypeFor[rules.Event]()

// schemaName is huma's default naming, except that the alert message is
// "Alert" in the OpenAPI document, as caregivers and companies know it.
func schemaName(t reflect.Type, hint string) string {
	if t == alertType {
		return "Alert"
	}
	return huma.DefaultSchemaNamer(t, hint)
}

// ServeHTTP serves the API. Every request body is JSON: a body sent as a
// form (curl -d without -H) or without a type is read as JSON too. No
// answer may be kept by a cache (they carry health data and secrets shown
// once) or sniffed into another content type by a browser.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if ct := r.Header.Get("Content-Type"); r.ContentLength != 0 && (ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded")) {
		r.Header.Set("Content-Type", "application/json")
	}
	a.mux.ServeHTTP(w, r)
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if a.d.Ready != nil {
		if err := a.d.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// bearer extracts the token of an Authorization header.
func bearer(h string) string {
	t, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(t)
}

// requireAdmin checks the admin token in constant time.
func (a *API) requireAdmin(auth string) error {
	t := bearer(auth)
	if t == "" {
		return huma.Error401Unauthorized("missing bearer token")
	}
	if a.d.AdminToken == "" || subtle.ConstantTimeCompare([]byte(t), []byte(a.d.AdminToken)) != 1 {
		return huma.Error401Unauthorized("not the admin token")
	}
	return nil
}

// requireFarm admits the admin token, or a token of this farm with scope.
func (a *API) requireFarm(ctx context.Context, auth, farm, scope string) error {
	t := bearer(auth)
	if t == "" {
		return huma.Error401Unauthorized("missing bearer token")
	}
	if a.d.AdminToken != "" && subtle.ConstantTimeCompare([]byte(t), []byte(a.d.AdminToken)) == 1 {
		return nil
	}
	tok, err := a.d.Registry.CheckToken(ctx, t)
	if err != nil {
		return huma.Error401Unauthorized("unknown or revoked token")
	}
	if tok.Farm != farm {
		return huma.Error403Forbidden("this token belongs to another farm")
	}
	for _, s := range tok.Scopes {
		if s == scope {
			return nil
		}
	}
	return huma.Error403Forbidden("this token lacks the " + scope + " scope")
}

// actor names who makes a call whose token requireFarm accepted: "admin"
// for the admin token, "token:<id>" for a farm token.
func (a *API) actor(ctx context.Context, auth string) string {
	t := bearer(auth)
	if a.d.AdminToken != "" && subtle.ConstantTimeCompare([]byte(t), []byte(a.d.AdminToken)) == 1 {
		return "admin"
	}
	if tok, err := a.d.Registry.CheckToken(ctx, t); err == nil {
		return "token:" + tok.ID
	}
	return "unknown"
}

// fail maps registry and storage errors to HTTP answers.
func (a *API) fail(op string, err error) error {
	var ve *registry.ValidationError
	switch {
	case errors.As(err, &ve):
		return huma.Error400BadRequest(ve.Error(), &huma.ErrorDetail{Location: "body." + ve.Field, Message: ve.Message})
	case errors.Is(err, registry.ErrExists):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, registry.ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case storage.IsRetryable(err):
		a.log.Warn(op+": storage unavailable", "error", err)
		return huma.Error503ServiceUnavailable("storage unavailable, try again: " + err.Error())
	}
	a.log.Error(op, "error", err)
	return huma.Error500InternalServerError(op + ": " + err.Error())
}
