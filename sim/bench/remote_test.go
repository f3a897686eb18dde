package bench

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI follows the provisioning and series contract of docs/contract.md
// closely enough to check what RemoteTarget sends and how it reads.
type fakeAPI struct {
	mu      sync.Mutex
	devices map[string]string // device → patient
	cgs     map[string][]string
	bad     []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // api v1 farms {farm} ...
	var body map[string]any
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad body", 400)
			return
		}
		if auth != "Bearer admin" {
			f.bad = append(f.bad, "post without admin token: "+r.URL.Path)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && len(parts) == 3:
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(body)
	case r.Method == http.MethodPost && parts[4] == "tokens":
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]string{"token": "read-" + parts[3]})
	case r.Method == http.MethodPost && parts[4] == "patients":
		if body["profile"] != "adult" {
			f.bad = append(f.bad, "profile "+body["profile"].(string))
		}
		w.WriteHeader(201)
	case r.Method == http.MethodPost && parts[4] == "devices":
		f.devices[body["id"].(string)] = body["patient"].(string)
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]string{"id": body["id"].(string), "username": "dev." + parts[3] + "." + body["id"].(string), "password": "pw"})
	case r.Method == http.MethodPost && parts[4] == "caregivers":
		var ps []string
		for _, p := range body["patients"].([]any) {
			ps = append(ps, p.(string))
		}
		f.cgs[body["id"].(string)] = ps
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]string{"username": "cg." + parts[3] + "." + body["id"].(string), "password": "pw"})
	case r.Method == http.MethodGet && len(parts) == 7 && parts[6] == "series":
		if auth != "Bearer read-"+parts[3] || r.URL.Query().Get("metric") != "hr" || r.URL.Query().Get("fn") != "count" {
			http.Error(w, "forbidden", 403)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"metric": "hr", "points": []map[string]any{{"t": "x", "v": 7.0}, {"t": "y", "v": 3.0}}})
	default:
		http.Error(w, "no route "+r.URL.Path, 404)
	}
}

func TestRemoteTargetSpeaksTheAPI(t *testing.T) {
	api := &fakeAPI{devices: map[string]string{}, cgs: map[string][]string{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx := context.Background()
	r, err := NewRemoteTarget(ctx, srv.URL, "admin", "tcp://127.0.0.1:1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.MQTTAddr() != "127.0.0.1:1" {
		t.Errorf("MQTT address %q", r.MQTTAddr())
	}
	creds, err := r.Provision(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range creds {
		if c.Username != "dev."+r.farm+"."+c.Device || c.Password != "pw" || api.devices[c.Device] != c.Patient {
			t.Errorf("creds %+v: want the login the API returned, for the device's own patient", c)
		}
		if seen[c.Patient] {
			t.Errorf("patient %s used twice", c.Patient)
		}
		seen[c.Patient] = true
	}
	probe, err := r.AlertProbe(ctx, creds[:2])
	if err != nil {
		t.Fatal(err)
	}
	if got := api.cgs[probe.Login.Device]; len(got) != 2 || got[0] != creds[0].Patient {
		t.Errorf("caregiver assigned to %v, want the two pressing patients", got)
	}
	alert := func(p, rule, state string) []byte {
		b, _ := json.Marshal(map[string]string{"patient": p, "rule": rule, "state": state})
		return b
	}
	if p, ok := probe.Match("", alert(creds[1].Patient, "sos", "active")); !ok || p != creds[1].Patient {
		t.Error("an active sos alert of a pressing patient must match")
	}
	for _, b := range [][]byte{alert(creds[1].Patient, "spo2_low", "active"), alert(creds[1].Patient, "sos", "resolved"), alert(creds[4].Patient, "sos", "active"), []byte("junk")} {
		if _, ok := probe.Match("", b); ok {
			t.Errorf("%s must not match", b)
		}
	}
	n, err := r.CountStored(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6*10 {
		t.Errorf("stored %d, want the sum of every patient's counts (60)", n)
	}
	if _, err := r.RSS(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("RSS without a pid: %v, want ErrUnsupported", err)
	}
	if len(api.bad) > 0 {
		t.Errorf("contract violations: %v", api.bad)
	}
}
