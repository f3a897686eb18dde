package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Login is an MQTT username and password.
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Credentials are what a fleet needs to connect: one login per device and
// one caregiver per person. Anonymous credentials (empty logins) suit a
// plain broker that allows everyone.
type Credentials struct {
	Farm       string           `json:"farm"`
	Devices    map[string]Login `json:"devices"`
	Caregivers map[string]Login `json:"caregivers"` // by patient id
}

// AnonymousCredentials are empty logins for every device and person, for a
// broker without authentication (a plain mochi or mosquitto).
func AnonymousCredentials(f *Fleet, farm string) *Credentials {
	c := &Credentials{Farm: farm, Devices: map[string]Login{}, Caregivers: map[string]Login{}}
	for _, d := range f.Devices {
		c.Devices[d.ID] = Login{}
	}
	for _, p := range f.People {
		c.Caregivers[p.ID] = Login{}
	}
	return c
}

// LoadCredentials reads credentials saved by SaveCredentials.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode credentials %s: %w", path, err)
	}
	return &c, nil
}

// SaveCredentials writes credentials readable by the owner only: the
// passwords are shown once by the server and cannot be fetched again.
func SaveCredentials(path string, c *Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// Provisioner creates farms, patients, devices and caregivers through the
// medbiz HTTP API with the admin token.
type Provisioner struct {
	BaseURL string
	Token   string
	Client  *http.Client
}

// ErrConflict is a 409 from the API: the id already exists.
var ErrConflict = errors.New("already exists")

func (p *Provisioner) post(ctx context.Context, path string, body, out any) error {
	return p.send(ctx, http.MethodPost, path, body, out)
}

// SetOverrides replaces a patient's rule threshold overrides.
func (p *Provisioner) SetOverrides(ctx context.Context, farm, patient string, o map[string]float64) error {
	if err := p.send(ctx, http.MethodPut, "/api/v1/farms/"+farm+"/patients/"+patient+"/overrides", o, nil); err != nil {
		return fmt.Errorf("overrides of %s: %w", patient, err)
	}
	return nil
}

func (p *Provisioner) send(ctx context.Context, method, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(p.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.Token)
	hc := p.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusConflict:
		return fmt.Errorf("%s %s: %w", method, path, ErrConflict)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// CreateFarm creates a farm; an existing one is fine (ErrConflict is not
// returned).
func (p *Provisioner) CreateFarm(ctx context.Context, farm string) error {
	err := p.post(ctx, "/api/v1/farms", map[string]string{"id": farm, "name": "medbiz sim " + farm}, nil)
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("create farm %s: %w", farm, err)
	}
	return nil
}

// CreatePatient creates a patient; an existing one is fine. birthDate is
// for infants (YYYY-MM-DD) and empty otherwise.
func (p *Provisioner) CreatePatient(ctx context.Context, farm, id string, profile Profile, birthDate string) error {
	body := map[string]string{"id": id, "profile": string(profile)}
	if birthDate != "" {
		body["birth_date"] = birthDate
	}
	if err := p.post(ctx, "/api/v1/farms/"+farm+"/patients", body, nil); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("create patient %s: %w", id, err)
	}
	return nil
}

// CreateDevice registers a device and returns its MQTT login, which the
// server shows only this once.
func (p *Provisioner) CreateDevice(ctx context.Context, farm, id, patient string, kind DeviceKind) (Login, error) {
	var l Login
	body := map[string]string{"id": id, "patient": patient, "kind": string(kind)}
	if err := p.post(ctx, "/api/v1/farms/"+farm+"/devices", body, &l); err != nil {
		return l, fmt.Errorf("create device %s: %w", id, err)
	}
	return l, nil
}

// CreateCaregiver registers a caregiver of the patients and returns the
// MQTT login.
func (p *Provisioner) CreateCaregiver(ctx context.Context, farm, id string, patients []string) (Login, error) {
	var l Login
	if err := p.post(ctx, "/api/v1/farms/"+farm+"/caregivers", map[string]any{"id": id, "patients": patients}, &l); err != nil {
		return l, fmt.Errorf("create caregiver %s: %w", id, err)
	}
	return l, nil
}

// CreateToken makes a read token for the farm's HTTP API.
func (p *Provisioner) CreateToken(ctx context.Context, farm string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := p.post(ctx, "/api/v1/farms/"+farm+"/tokens", map[string]any{"scopes": []string{"read"}}, &out); err != nil {
		return "", fmt.Errorf("create token for %s: %w", farm, err)
	}
	return out.Token, nil
}

// Provision registers the fleet in farm: the farm and patients may already
// exist, devices and caregivers must be new (their passwords are shown
// only once).
func (p *Provisioner) Provision(ctx context.Context, f *Fleet, farm string) (*Credentials, error) {
	if err := p.CreateFarm(ctx, farm); err != nil {
		return nil, err
	}
	c := &Credentials{Farm: farm, Devices: map[string]Login{}, Caregivers: map[string]Login{}}
	for _, per := range f.People {
		if err := p.CreatePatient(ctx, farm, per.ID, per.Profile, per.BirthDate(f.Start)); err != nil {
			return nil, err
		}
		l, err := p.CreateCaregiver(ctx, farm, "cg-"+per.ID, []string{per.ID})
		if err != nil {
			return nil, fmt.Errorf("%w (use a new --farm or saved --creds)", err)
		}
		c.Caregivers[per.ID] = l
	}
	for _, d := range f.Devices {
		l, err := p.CreateDevice(ctx, farm, d.ID, d.Person.ID, d.Kind)
		if err != nil {
			return nil, fmt.Errorf("%w (use a new --farm or saved --creds)", err)
		}
		c.Devices[d.ID] = l
	}
	return c, nil
}
