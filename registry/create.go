package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/nats-io/nats.go/jetstream"
)

func farmKey(farm string) string          { return "farm." + farm }
func patientKey(farm, id string) string   { return "patient." + farm + "." + id }
func deviceKey(farm, id string) string    { return "device." + farm + "." + id }
func caregiverKey(farm, id string) string { return "caregiver." + farm + "." + id }
func tokenKey(id string) string           { return "token." + id }

// create writes a new record with KV Create, which the server refuses when
// the key exists: of two nodes racing for one id exactly one wins. The
// memory copy is updated at once so the caller reads its own write.
func (r *Registry) create(ctx context.Context, key string, rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	rev, err := r.kv.Create(ctx, key, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%s: %w", key, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	if _, _, _, err := r.apply(key, b, rev, false); err != nil {
		return fmt.Errorf("mirror %s: %w", key, err)
	}
	return nil
}

// farmExists checks memory first, then the bucket (the farm may have been
// created on another node a moment ago).
func (r *Registry) farmExists(ctx context.Context, farm string) error {
	if !ValidID(farm) {
		return fmt.Errorf("farm %q: %w", farm, ErrNotFound)
	}
	if _, ok := r.Farm(farm); ok {
		return nil
	}
	ok, err := r.fetch(ctx, farmKey(farm))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("farm %q: %w", farm, ErrNotFound)
	}
	return nil
}

func (r *Registry) patientExists(ctx context.Context, farm, patient string) error {
	if _, ok := r.Patient(farm, patient); ok {
		return nil
	}
	ok, err := r.fetch(ctx, patientKey(farm, patient))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("patient %q of farm %q: %w", patient, farm, ErrNotFound)
	}
	return nil
}

// CreateFarm stores a new farm. Created is set by the registry.
func (r *Registry) CreateFarm(ctx context.Context, f Farm) (Farm, error) {
	if err := validateFarm(f); err != nil {
		return Farm{}, err
	}
	f.Created = r.now().UTC()
	if err := r.create(ctx, farmKey(f.ID), f); err != nil {
		return Farm{}, err
	}
	return f, nil
}

// CreatePatient stores a new patient of an existing farm (ErrNotFound
// otherwise). Created is set by the registry.
func (r *Registry) CreatePatient(ctx context.Context, p Patient) (Patient, error) {
	if err := validatePatient(p, r.now()); err != nil {
		return Patient{}, err
	}
	if err := r.farmExists(ctx, p.Farm); err != nil {
		return Patient{}, err
	}
	p.Overrides = cloneOverrides(p.Overrides)
	p.Created = r.now().UTC()
	if err := r.create(ctx, patientKey(p.Farm, p.ID), p); err != nil {
		return Patient{}, err
	}
	return p, nil
}

func cloneOverrides(o map[string]float64) map[string]float64 {
	if len(o) == 0 {
		return nil
	}
	return maps.Clone(o)
}

// SetOverrides replaces a patient's rule-threshold overrides (an empty map
// clears them) and returns the updated patient. Concurrent updates from
// other nodes are resolved with a compare-and-set on the KV revision.
func (r *Registry) SetOverrides(ctx context.Context, farm, patient string, o map[string]float64) (Patient, error) {
	if err := validateOverrides(o); err != nil {
		return Patient{}, err
	}
	if !ValidID(farm) || !ValidID(patient) {
		return Patient{}, fmt.Errorf("patient %q of farm %q: %w", patient, farm, ErrNotFound)
	}
	key := patientKey(farm, patient)
	for attempt := 0; ; attempt++ {
		e, err := r.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return Patient{}, fmt.Errorf("patient %q of farm %q: %w", patient, farm, ErrNotFound)
		}
		if err != nil {
			return Patient{}, fmt.Errorf("get %s: %w", key, err)
		}
		var p Patient
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return Patient{}, fmt.Errorf("decode %s: %w", key, err)
		}
		p.Overrides = cloneOverrides(o)
		b, err := json.Marshal(p)
		if err != nil {
			return Patient{}, fmt.Errorf("encode %s: %w", key, err)
		}
		rev, err := r.kv.Update(ctx, key, b, e.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) && attempt < 5 {
			continue // someone else changed the patient in between; redo on theirs
		}
		if err != nil {
			return Patient{}, fmt.Errorf("update %s: %w", key, err)
		}
		if _, _, _, err := r.apply(key, b, rev, false); err != nil {
			return Patient{}, fmt.Errorf("mirror %s: %w", key, err)
		}
		return p, nil
	}
}

// CreateDevice stores a new device of an existing patient and returns it
// with its MQTT password, which is shown this once and stored only as a
// bcrypt hash.
func (r *Registry) CreateDevice(ctx context.Context, d Device) (Device, string, error) {
	if err := validateDevice(d); err != nil {
		return Device{}, "", err
	}
	if err := r.farmExists(ctx, d.Farm); err != nil {
		return Device{}, "", err
	}
	if err := r.patientExists(ctx, d.Farm, d.Patient); err != nil {
		return Device{}, "", err
	}
	// Refuse a known duplicate before paying for bcrypt; KV Create below
	// still decides races.
	if _, ok := r.Device(d.Farm, d.ID); ok {
		return Device{}, "", fmt.Errorf("%s: %w", deviceKey(d.Farm, d.ID), ErrExists)
	}
	password, hash, err := r.newPassword()
	if err != nil {
		return Device{}, "", err
	}
	d.Username = DeviceUsername(d.Farm, d.ID)
	d.Created = r.now().UTC()
	if err := r.create(ctx, deviceKey(d.Farm, d.ID), deviceRecord{Device: d, PasswordHash: hash}); err != nil {
		return Device{}, "", err
	}
	return d, password, nil
}

// CreateCaregiver stores a new caregiver assigned to existing patients of
// the farm and returns it with its MQTT password (shown once).
func (r *Registry) CreateCaregiver(ctx context.Context, c Caregiver) (Caregiver, string, error) {
	patients, err := validateCaregiver(c)
	if err != nil {
		return Caregiver{}, "", err
	}
	if err := r.farmExists(ctx, c.Farm); err != nil {
		return Caregiver{}, "", err
	}
	for _, p := range patients {
		if err := r.patientExists(ctx, c.Farm, p); err != nil {
			return Caregiver{}, "", err
		}
	}
	if _, ok := r.Caregiver(c.Farm, c.ID); ok {
		return Caregiver{}, "", fmt.Errorf("%s: %w", caregiverKey(c.Farm, c.ID), ErrExists)
	}
	password, hash, err := r.newPassword()
	if err != nil {
		return Caregiver{}, "", err
	}
	c.Patients = patients
	c.Username = CaregiverUsername(c.Farm, c.ID)
	c.Created = r.now().UTC()
	if err := r.create(ctx, caregiverKey(c.Farm, c.ID), caregiverRecord{Caregiver: c, PasswordHash: hash}); err != nil {
		return Caregiver{}, "", err
	}
	return c, password, nil
}

// CreateToken issues an API token for one farm and returns its public part
// and the secret token string "mbz_<id>_<secret>", shown this once.
func (r *Registry) CreateToken(ctx context.Context, farm string, scopes []string) (Token, string, error) {
	scopes, err := validateScopes(scopes)
	if err != nil {
		return Token{}, "", err
	}
	if err := r.farmExists(ctx, farm); err != nil {
		return Token{}, "", err
	}
	// 48-bit random ids practically never collide; retry the rare clash
	// rather than fail the call.
	for attempt := 0; ; attempt++ {
		id, secret, sum, err := newToken()
		if err != nil {
			return Token{}, "", err
		}
		t := Token{ID: id, Farm: farm, Scopes: scopes, Created: r.now().UTC()}
		err = r.create(ctx, tokenKey(id), tokenRecord{Token: t, SecretSHA256: sum})
		if errors.Is(err, ErrExists) && attempt < 3 {
			continue
		}
		if err != nil {
			return Token{}, "", err
		}
		return t, secret, nil
	}
}
