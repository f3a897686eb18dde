package registry

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// decodeRecord turns a KV value into its in-memory form and checks that it
// belongs under its key, so a hand-edited or corrupt value cannot pose as
// another farm's record.
func decodeRecord(kind, farm, id string, value []byte) (any, error) {
	mismatch := func(gotFarm, gotID string) error {
		if gotFarm != farm || gotID != id {
			return fmt.Errorf("record %s/%s stored under key of %s/%s", gotFarm, gotID, farm, id)
		}
		return nil
	}
	switch kind {
	case ChangeFarm:
		var f Farm
		if err := json.Unmarshal(value, &f); err != nil {
			return nil, err
		}
		return f, mismatch(f.ID, f.ID)
	case ChangePatient:
		var p Patient
		if err := json.Unmarshal(value, &p); err != nil {
			return nil, err
		}
		return p, mismatch(p.Farm, p.ID)
	case ChangeDevice:
		var d deviceRecord
		if err := json.Unmarshal(value, &d); err != nil {
			return nil, err
		}
		return deviceEntry{Device: d.Device, hash: []byte(d.PasswordHash)}, mismatch(d.Farm, d.ID)
	case ChangeCaregiver:
		var c caregiverRecord
		if err := json.Unmarshal(value, &c); err != nil {
			return nil, err
		}
		return caregiverEntry{Caregiver: c.Caregiver, hash: []byte(c.PasswordHash)}, mismatch(c.Farm, c.ID)
	case ChangeToken:
		var t tokenRecord
		if err := json.Unmarshal(value, &t); err != nil {
			return nil, err
		}
		te := tokenEntry{Token: t.Token}
		if n, err := hex.Decode(te.sum[:], []byte(t.SecretSHA256)); err != nil || n != len(te.sum) {
			return nil, fmt.Errorf("token %s: bad secret hash", t.ID)
		}
		if t.ID != id {
			return nil, fmt.Errorf("token %s stored under key of %s", t.ID, id)
		}
		return te, nil
	}
	return nil, fmt.Errorf("unknown record kind %q", kind)
}

// Farm returns the farm with that id. Served from memory.
func (r *Registry) Farm(id string) (Farm, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if fs := r.farms[id]; fs != nil && fs.exists {
		return fs.farm, true
	}
	return Farm{}, false
}

// Farms returns every farm, sorted by id.
func (r *Registry) Farms() []Farm {
	r.mu.RLock()
	out := make([]Farm, 0, len(r.farms))
	for _, fs := range r.farms {
		if fs.exists {
			out = append(out, fs.farm)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Farm) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Patient returns one patient of a farm. Served from memory; the returned
// Overrides map is shared and must not be modified.
func (r *Registry) Patient(farm, id string) (Patient, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if fs := r.farms[farm]; fs != nil {
		p, ok := fs.patients[id]
		return p, ok
	}
	return Patient{}, false
}

// Patients returns a farm's patients sorted by id (nil for an unknown farm).
func (r *Registry) Patients(farm string) []Patient {
	r.mu.RLock()
	fs := r.farms[farm]
	if fs == nil {
		r.mu.RUnlock()
		return nil
	}
	out := make([]Patient, 0, len(fs.patients))
	for _, p := range fs.patients {
		out = append(out, p)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Patient) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Device returns one device of a farm. Served from memory without
// allocating: the ingest hook calls it for every message.
func (r *Registry) Device(farm, id string) (Device, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if fs := r.farms[farm]; fs != nil {
		d, ok := fs.devices[id]
		return d.Device, ok
	}
	return Device{}, false
}

// Devices returns a farm's devices sorted by id (nil for an unknown farm).
func (r *Registry) Devices(farm string) []Device {
	r.mu.RLock()
	fs := r.farms[farm]
	if fs == nil {
		r.mu.RUnlock()
		return nil
	}
	out := make([]Device, 0, len(fs.devices))
	for _, d := range fs.devices {
		out = append(out, d.Device)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Device) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Caregiver returns one caregiver of a farm. Served from memory; the
// returned Patients slice is shared and must not be modified.
func (r *Registry) Caregiver(farm, id string) (Caregiver, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if fs := r.farms[farm]; fs != nil {
		c, ok := fs.caregivers[id]
		return c.Caregiver, ok
	}
	return Caregiver{}, false
}

// Caregivers returns a farm's caregivers sorted by id.
func (r *Registry) Caregivers(farm string) []Caregiver {
	r.mu.RLock()
	fs := r.farms[farm]
	if fs == nil {
		r.mu.RUnlock()
		return nil
	}
	out := make([]Caregiver, 0, len(fs.caregivers))
	for _, c := range fs.caregivers {
		out = append(out, c.Caregiver)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Caregiver) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Tokens returns a farm's API tokens (public parts only) sorted by id.
func (r *Registry) Tokens(farm string) []Token {
	r.mu.RLock()
	var out []Token
	for _, t := range r.tokens {
		if t.Farm == farm {
			out = append(out, t.Token)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Token) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CaregiverHasPatient reports whether caregiver id of farm is assigned to
// patient; the auth hook's ACL check, allocation-free.
func (r *Registry) CaregiverHasPatient(farm, id, patient string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if fs := r.farms[farm]; fs != nil {
		if c, ok := fs.caregivers[id]; ok {
			return slices.Contains(c.Patients, patient)
		}
	}
	return false
}
