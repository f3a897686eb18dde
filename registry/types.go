package registry

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
)

// Sentinel errors callers map to HTTP status codes and MQTT reason codes.
var (
	// ErrExists means a record with that id already exists (HTTP 409).
	ErrExists = errors.New("already exists")
	// ErrNotFound means a referenced farm, patient or other record does not
	// exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized means the credentials or token are wrong or unknown.
	ErrUnauthorized = errors.New("unauthorized")
)

// ValidationError is a malformed field of a record (HTTP 400). Field is the
// record's JSON field name, so an API can tell the caller what to fix.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Message)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Patient profiles: they select the rule pack and the clinical ranges.
const (
	ProfileAdult   = "adult"
	ProfileElderly = "elderly"
	ProfileInfant  = "infant"
)

// Farm token scopes. There is no "admin" scope: administration uses the
// server's admin token, never a farm token.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// Principal kinds returned by Authenticate.
const (
	KindDevice    = "device"
	KindCaregiver = "caregiver"
)

// Change kinds passed to OnChange callbacks.
const (
	ChangeFarm      = "farm"
	ChangePatient   = "patient"
	ChangeDevice    = "device"
	ChangeCaregiver = "caregiver"
	ChangeToken     = "token"
)

// deviceKinds is the closed set of device kinds; "other" covers the rest.
var deviceKinds = []string{
	"bp_monitor", "pulse_oximeter", "thermometer", "glucose_meter",
	"ecg_patch", "motion_sensor", "sos_button", "breathing_monitor",
	"scale", "wearable", "other",
}

// DeviceKinds returns the accepted device kinds (a fresh copy, so callers
// cannot change the set).
func DeviceKinds() []string { return slices.Clone(deviceKinds) }

// IsDeviceKind reports whether k is an accepted device kind.
func IsDeviceKind(k string) bool { return slices.Contains(deviceKinds, k) }

// Farm is a tenant: a company, a care provider or one person's own storage.
type Farm struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Patient is a monitored person.
type Patient struct {
	Farm    string `json:"farm"`
	ID      string `json:"id"`
	Profile string `json:"profile"`
	// BirthDate is YYYY-MM-DD; required for infants, whose clinical ranges
	// depend on age in months, optional otherwise.
	BirthDate string `json:"birth_date,omitempty"`
	// Region is where the person lives, as a region id of the public
	// context feeds (weather, air quality); optional. It has the form of
	// an id, so it is safe as a subject token and a tag value.
	Region string `json:"region,omitempty"`
	// Overrides are per-patient rule thresholds. Treat the map as read-only:
	// SetOverrides replaces it rather than changing it, so a map obtained
	// from Patient stays valid and unchanged.
	Overrides map[string]float64 `json:"overrides,omitempty"`
	Created   time.Time          `json:"created"`
}

// Device is a device assigned to one patient. Its password hash is kept
// apart and never leaves the package.
type Device struct {
	Farm     string    `json:"farm"`
	ID       string    `json:"id"`
	Patient  string    `json:"patient"`
	Kind     string    `json:"kind"`
	Username string    `json:"username"`
	Created  time.Time `json:"created"`
}

// Caregiver receives alerts for the listed patients of one farm.
type Caregiver struct {
	Farm string `json:"farm"`
	ID   string `json:"id"`
	// Patients is read-only for callers (shared with the registry's copy).
	Patients []string  `json:"patients"`
	Username string    `json:"username"`
	Created  time.Time `json:"created"`
}

// Token is a farm API token's public part.
type Token struct {
	ID      string    `json:"id"`
	Farm    string    `json:"farm"`
	Scopes  []string  `json:"scopes"`
	Created time.Time `json:"created"`
}

// HasScope reports whether the token carries scope s.
func (t Token) HasScope(s string) bool { return slices.Contains(t.Scopes, s) }

// Principal is who authenticated over MQTT.
type Principal struct {
	// Kind is KindDevice or KindCaregiver.
	Kind string
	Farm string
	ID   string
	// Patient is the device's patient (devices only).
	Patient string
	// Patients are the caregiver's patients (caregivers only; read-only).
	Patients []string
}

// Stored forms: the public record plus its credential hash. The hash is a
// separate JSON field so the public structs can be returned and serialised
// by the API without ever carrying it.
type deviceRecord struct {
	Device
	PasswordHash string `json:"password_hash"`
}

type caregiverRecord struct {
	Caregiver
	PasswordHash string `json:"password_hash"`
}

type tokenRecord struct {
	Token
	// SecretSHA256 is the hex SHA-256 of the token's secret part.
	SecretSHA256 string `json:"secret_sha256"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidID reports whether s is a valid farm, patient, device or caregiver
// id: `[a-z0-9][a-z0-9_-]{0,62}`. Such ids are safe as KV key tokens, NATS
// subject tokens, MQTT topic levels and InfluxDB bucket suffixes.
func ValidID(s string) bool {
	// A hand-written check: this runs per MQTT message in callers, and the
	// regexp is several times slower.
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkID(field, s string) error {
	if !ValidID(s) {
		return invalid(field, "%q must match %s", s, idPattern.String())
	}
	return nil
}

const maxNameLen = 200

func validateFarm(f Farm) error {
	if err := checkID("id", f.ID); err != nil {
		return err
	}
	if len(f.Name) > maxNameLen {
		return invalid("name", "longer than %d bytes", maxNameLen)
	}
	return nil
}

// validatePatient checks the patient's own fields; the farm's existence is
// checked by the caller. now is the clock for "birth date not in the future".
func validatePatient(p Patient, now time.Time) error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	switch p.Profile {
	case ProfileAdult, ProfileElderly, ProfileInfant:
	case "":
		return invalid("profile", "required (adult, elderly or infant)")
	default:
		return invalid("profile", "%q is not adult, elderly or infant", p.Profile)
	}
	if p.BirthDate == "" {
		if p.Profile == ProfileInfant {
			return invalid("birth_date", "required for an infant (YYYY-MM-DD)")
		}
	} else {
		d, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil {
			return invalid("birth_date", "%q is not a date YYYY-MM-DD", p.BirthDate)
		}
		// Compare dates, not instants: a baby born today somewhere east of
		// UTC is not "in the future".
		if d.After(now.UTC().AddDate(0, 0, 1)) {
			return invalid("birth_date", "%s is in the future", p.BirthDate)
		}
		if d.Year() < 1900 {
			return invalid("birth_date", "%s is before 1900", p.BirthDate)
		}
	}
	if p.Region != "" {
		if err := checkID("region", p.Region); err != nil {
			return err
		}
	}
	return validateOverrides(p.Overrides)
}

var overrideKeyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,127}$`)

func validateOverrides(o map[string]float64) error {
	for k, v := range o {
		if !overrideKeyPattern.MatchString(k) {
			return invalid("overrides", "key %q must match %s", k, overrideKeyPattern.String())
		}
		// JSON cannot carry NaN or infinities, and a threshold of either
		// would silently disable a rule.
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid("overrides", "%s is not a finite number", k)
		}
	}
	return nil
}

func validateDevice(d Device) error {
	if err := checkID("id", d.ID); err != nil {
		return err
	}
	if d.Patient == "" {
		return invalid("patient", "required")
	}
	if err := checkID("patient", d.Patient); err != nil {
		return err
	}
	if d.Kind == "" {
		return invalid("kind", "required (one of %v)", deviceKinds)
	}
	if !IsDeviceKind(d.Kind) {
		return invalid("kind", "%q is not one of %v", d.Kind, deviceKinds)
	}
	return nil
}

// validateCaregiver checks the fields and returns the patients deduplicated
// and sorted; their existence is checked by the caller.
func validateCaregiver(c Caregiver) ([]string, error) {
	if err := checkID("id", c.ID); err != nil {
		return nil, err
	}
	if len(c.Patients) == 0 {
		return nil, invalid("patients", "at least one patient is required")
	}
	ps := slices.Clone(c.Patients)
	for _, p := range ps {
		if err := checkID("patients", p); err != nil {
			return nil, err
		}
	}
	slices.Sort(ps)
	return slices.Compact(ps), nil
}

// validateScopes returns the scopes deduplicated and sorted.
func validateScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, invalid("scopes", "at least one of read, write is required")
	}
	out := slices.Clone(scopes)
	for _, s := range out {
		if s != ScopeRead && s != ScopeWrite {
			return nil, invalid("scopes", "%q is not read or write", s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
