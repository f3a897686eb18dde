package registry

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestCreateAndRead(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)

	f := must(r.CreateFarm(ctx, Farm{ID: "acme", Name: "Acme Care"}))(t)
	if f.Created.IsZero() {
		t.Error("farm Created not set")
	}
	if got, ok := r.Farm("acme"); !ok || got.Name != "Acme Care" {
		t.Fatalf("Farm(acme) = %+v, %v", got, ok)
	}

	p := must(r.CreatePatient(ctx, Patient{Farm: "acme", ID: "grandma", Profile: ProfileElderly,
		Overrides: map[string]float64{"spo2.low": 90}}))(t)
	baby := must(r.CreatePatient(ctx, Patient{Farm: "acme", ID: "baby-1", Profile: ProfileInfant, BirthDate: "2026-06-01"}))(t)
	if got, ok := r.Patient("acme", "grandma"); !ok || got.Profile != ProfileElderly || got.Overrides["spo2.low"] != 90 {
		t.Fatalf("Patient(acme, grandma) = %+v, %v", got, ok)
	}
	if got, _ := r.Patient("acme", "baby-1"); got.BirthDate != "2026-06-01" || !got.Created.Equal(baby.Created) {
		t.Fatalf("infant = %+v", got)
	}
	if ps := r.Patients("acme"); len(ps) != 2 || ps[0].ID != "baby-1" || ps[1].ID != p.ID {
		t.Fatalf("Patients = %+v", ps)
	}

	d, pw, err := r.CreateDevice(ctx, Device{Farm: "acme", ID: "cuff", Patient: "grandma", Kind: "bp_monitor"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Username != "dev.acme.cuff" || len(pw) < 24 {
		t.Fatalf("device username %q, password %q", d.Username, pw)
	}
	if got, ok := r.Device("acme", "cuff"); !ok || got.Patient != "grandma" || got.Kind != "bp_monitor" {
		t.Fatalf("Device = %+v, %v", got, ok)
	}
	if ds := r.Devices("acme"); len(ds) != 1 || ds[0].ID != "cuff" {
		t.Fatalf("Devices = %+v", ds)
	}

	// A caregiver may share the device's id: usernames differ by kind.
	c, cpw, err := r.CreateCaregiver(ctx, Caregiver{Farm: "acme", ID: "cuff", Patients: []string{"grandma", "baby-1", "grandma"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "cg.acme.cuff" || !slices.Equal(c.Patients, []string{"baby-1", "grandma"}) {
		t.Fatalf("caregiver = %+v", c)
	}
	if pw == cpw {
		t.Fatal("two credentials got the same password")
	}
	if got, ok := r.Caregiver("acme", "cuff"); !ok || len(got.Patients) != 2 {
		t.Fatalf("Caregiver = %+v, %v", got, ok)
	}
	if !r.CaregiverHasPatient("acme", "cuff", "baby-1") || r.CaregiverHasPatient("acme", "cuff", "nobody") {
		t.Error("CaregiverHasPatient wrong")
	}

	dp := must(r.Authenticate(ctx, d.Username, pw))(t)
	if dp.Kind != KindDevice || dp.Farm != "acme" || dp.ID != "cuff" || dp.Patient != "grandma" {
		t.Fatalf("device principal = %+v", dp)
	}
	cp := must(r.Authenticate(ctx, c.Username, cpw))(t)
	if cp.Kind != KindCaregiver || cp.ID != "cuff" || !slices.Equal(cp.Patients, []string{"baby-1", "grandma"}) {
		t.Fatalf("caregiver principal = %+v", cp)
	}
	if _, err := r.Authenticate(ctx, c.Username, pw); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("caregiver with the device's password: %v", err)
	}

	tok, secret, err := r.CreateToken(ctx, "acme", []string{"write", "read", "read"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.ID) != 12 || secret[:4] != "mbz_" || secret[4:16] != tok.ID {
		t.Fatalf("token %+v secret %q", tok, secret)
	}
	got := must(r.CheckToken(ctx, secret))(t)
	if got.Farm != "acme" || !got.HasScope(ScopeRead) || !got.HasScope(ScopeWrite) || len(got.Scopes) != 2 {
		t.Fatalf("CheckToken = %+v", got)
	}
	if ts := r.Tokens("acme"); len(ts) != 1 || ts[0].ID != tok.ID {
		t.Fatalf("Tokens = %+v", ts)
	}
	if fs := r.Farms(); len(fs) != 1 || fs[0].ID != "acme" {
		t.Fatalf("Farms = %+v", fs)
	}
}

func TestDuplicatesAreRefused(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "scale"}))(t)
	must3(r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1"}}))(t)

	_, err1 := r.CreateFarm(ctx, Farm{ID: "f1", Name: "again"})
	_, err2 := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p1", Profile: ProfileElderly})
	_, _, err3 := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "other"})
	_, _, err4 := r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1"}})
	for i, err := range []error{err1, err2, err3, err4} {
		if !errors.Is(err, ErrExists) {
			t.Errorf("duplicate %d: err = %v, want ErrExists", i+1, err)
		}
	}
	// The first record is untouched.
	if f, _ := r.Farm("f1"); f.Name != "Farm One" {
		t.Errorf("farm overwritten: %+v", f)
	}
	if p, _ := r.Patient("f1", "p1"); p.Profile != ProfileAdult {
		t.Errorf("patient overwritten: %+v", p)
	}
}

func TestMissingParentsAreNotFound(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	cases := map[string]error{}
	_, cases["patient in missing farm"] = r.CreatePatient(ctx, Patient{Farm: "nofarm", ID: "p1", Profile: ProfileAdult})
	_, _, cases["device in missing farm"] = r.CreateDevice(ctx, Device{Farm: "nofarm", ID: "d1", Patient: "p1", Kind: "scale"})
	_, _, cases["device of missing patient"] = r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "ghost", Kind: "scale"})
	_, _, cases["caregiver of missing patient"] = r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1", "ghost"}})
	_, _, cases["token of missing farm"] = r.CreateToken(ctx, "nofarm", []string{"read"})
	_, cases["overrides of missing patient"] = r.SetOverrides(ctx, "f1", "ghost", map[string]float64{"hr.high": 120})
	_, cases["farm with invalid id"] = r.CreatePatient(ctx, Patient{Farm: "No.Farm", ID: "p1", Profile: ProfileAdult})
	for name, err := range cases {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	if _, ok := r.Device("f1", "d1"); ok {
		t.Error("device of a missing patient was stored")
	}
	if _, ok := r.Caregiver("f1", "c1"); ok {
		t.Error("caregiver with a missing patient was stored")
	}
}

func TestValidationNamesTheField(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	tomorrow := time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)
	cases := []struct {
		name  string
		field string
		run   func() error
	}{
		{"farm id uppercase", "id", func() error { _, err := r.CreateFarm(ctx, Farm{ID: "Acme"}); return err }},
		{"farm id empty", "id", func() error { _, err := r.CreateFarm(ctx, Farm{}); return err }},
		{"farm id leading dash", "id", func() error { _, err := r.CreateFarm(ctx, Farm{ID: "-a"}); return err }},
		{"farm id with dot", "id", func() error { _, err := r.CreateFarm(ctx, Farm{ID: "a.b"}); return err }},
		{"farm id 64 chars", "id", func() error {
			_, err := r.CreateFarm(ctx, Farm{ID: "a123456789012345678901234567890123456789012345678901234567890123"})
			return err
		}},
		{"patient id", "id", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p 2", Profile: ProfileAdult})
			return err
		}},
		{"profile missing", "profile", func() error { _, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2"}); return err }},
		{"profile unknown", "profile", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: "child"})
			return err
		}},
		{"infant without birth date", "birth_date", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileInfant})
			return err
		}},
		{"birth date format", "birth_date", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileInfant, BirthDate: "01/06/2026"})
			return err
		}},
		{"birth date in future", "birth_date", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileInfant, BirthDate: tomorrow})
			return err
		}},
		{"region", "region", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileElderly, Region: "Seoul City"})
			return err
		}},
		{"override key", "overrides", func() error {
			_, err := r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileAdult, Overrides: map[string]float64{"HR HIGH": 1}})
			return err
		}},
		{"device id", "id", func() error {
			_, _, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "", Patient: "p1", Kind: "scale"})
			return err
		}},
		{"device patient missing", "patient", func() error {
			_, _, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Kind: "scale"})
			return err
		}},
		{"device kind missing", "kind", func() error {
			_, _, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1"})
			return err
		}},
		{"device kind unknown", "kind", func() error {
			_, _, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "toaster"})
			return err
		}},
		{"caregiver id", "id", func() error {
			_, _, err := r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "C1", Patients: []string{"p1"}})
			return err
		}},
		{"caregiver without patients", "patients", func() error {
			_, _, err := r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1"})
			return err
		}},
		{"caregiver patient id", "patients", func() error {
			_, _, err := r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1", "P*"}})
			return err
		}},
		{"token without scopes", "scopes", func() error { _, _, err := r.CreateToken(ctx, "f1", nil); return err }},
		{"token admin scope", "scopes", func() error { _, _, err := r.CreateToken(ctx, "f1", []string{"read", "admin"}); return err }},
		{"set overrides key", "overrides", func() error {
			_, err := r.SetOverrides(ctx, "f1", "p1", map[string]float64{"": 1})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if ve.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Field, tc.field, err)
			}
		})
	}
	// Nothing invalid was stored.
	if ps := r.Patients("f1"); len(ps) != 1 {
		t.Errorf("patients after invalid creates = %+v", ps)
	}
	if len(r.Devices("f1")) != 0 || len(r.Caregivers("f1")) != 0 || len(r.Tokens("f1")) != 0 {
		t.Error("an invalid device, caregiver or token was stored")
	}
	// Optional birth date for adults, and a valid one for infants, pass;
	// so does a region, kept as given.
	must(r.CreatePatient(ctx, Patient{Farm: "f1", ID: "adult-2", Profile: ProfileAdult}))(t)
	must(r.CreatePatient(ctx, Patient{Farm: "f1", ID: "in-seoul", Profile: ProfileElderly, Region: "seoul-jongno"}))(t)
	if got, _ := r.Patient("f1", "in-seoul"); got.Region != "seoul-jongno" {
		t.Errorf("region = %q", got.Region)
	}
	must(r.CreatePatient(ctx, Patient{Farm: "f1", ID: "baby", Profile: ProfileInfant,
		BirthDate: time.Now().UTC().Format(time.DateOnly)}))(t)
	for _, k := range DeviceKinds() {
		must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "k-" + k, Patient: "p1", Kind: k}))(t)
	}
}

func TestDeviceKindsIsACopy(t *testing.T) {
	k := DeviceKinds()
	k[0] = "toaster"
	if IsDeviceKind("toaster") || !IsDeviceKind("bp_monitor") {
		t.Fatal("DeviceKinds exposed the package's set")
	}
}

func TestSetOverridesAndOnChange(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	var mu sync.Mutex
	var changes []string
	r.OnChange(func(kind, farm, id string) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, kind+":"+farm+":"+id)
	})
	seed(t, r)
	patientChanges := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range changes {
			if c == "patient:f1:p1" {
				n++
			}
		}
		return n
	}
	// The watcher skips an echo older than what memory holds, so wait for
	// the create's notification before the update.
	eventually(t, "create notified", func() bool { return patientChanges() == 1 })
	before, _ := r.Patient("f1", "p1")
	o := map[string]float64{"hr.high": 130, "spo2.low": 91.5}
	p := must(r.SetOverrides(ctx, "f1", "p1", o))(t)
	o["hr.high"] = 1 // the caller's map is not aliased
	if p.Overrides["hr.high"] != 130 || p.Profile != ProfileAdult || !p.Created.Equal(before.Created) {
		t.Fatalf("SetOverrides = %+v", p)
	}
	if got, _ := r.Patient("f1", "p1"); !maps.Equal(got.Overrides, map[string]float64{"hr.high": 130, "spo2.low": 91.5}) {
		t.Fatalf("read after SetOverrides = %+v", got.Overrides)
	}
	if before.Overrides != nil {
		t.Fatalf("earlier read changed: %+v", before.Overrides)
	}
	eventually(t, "override change notified", func() bool {
		mu.Lock()
		farm := slices.Contains(changes, "farm:f1:f1")
		mu.Unlock()
		// One for the create, one for the override update.
		return patientChanges() == 2 && farm
	})
	// Tokens are reported under their farm.
	tok, _, err := r.CreateToken(ctx, "f1", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "token change notified", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(changes, "token:f1:"+tok.ID)
	})
	// Clearing.
	p = must(r.SetOverrides(ctx, "f1", "p1", nil))(t)
	if len(p.Overrides) != 0 {
		t.Fatalf("cleared overrides = %+v", p.Overrides)
	}
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := startNATS(t, dir)
	js := connect(t, s)
	r := open(t, js)
	ctx := ctxT(t)
	seed(t, r)
	must(r.SetOverrides(ctx, "f1", "p1", map[string]float64{"hr.high": 125}))(t)
	d, dpw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "pulse_oximeter"})
	if err != nil {
		t.Fatal(err)
	}
	c, cpw, err := r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := r.CreateToken(ctx, "f1", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	s.Shutdown()
	s.WaitForShutdown()

	s2 := startNATS(t, dir)
	t.Cleanup(s2.Shutdown)
	r2 := open(t, connect(t, s2))
	if f, ok := r2.Farm("f1"); !ok || f.Name != "Farm One" {
		t.Fatalf("farm after restart: %+v %v", f, ok)
	}
	if p, ok := r2.Patient("f1", "p1"); !ok || p.Overrides["hr.high"] != 125 {
		t.Fatalf("patient after restart: %+v %v", p, ok)
	}
	if got, ok := r2.Device("f1", "d1"); !ok || got != d {
		t.Fatalf("device after restart: %+v, want %+v", got, d)
	}
	if got, ok := r2.Caregiver("f1", "c1"); !ok || got.Username != c.Username {
		t.Fatalf("caregiver after restart: %+v", got)
	}
	if _, err := r2.Authenticate(ctx, d.Username, dpw); err != nil {
		t.Errorf("device credentials after restart: %v", err)
	}
	if _, err := r2.Authenticate(ctx, c.Username, cpw); err != nil {
		t.Errorf("caregiver credentials after restart: %v", err)
	}
	if tok, err := r2.CheckToken(ctx, secret); err != nil || tok.Farm != "f1" {
		t.Errorf("token after restart: %+v %v", tok, err)
	}
	if _, err := r2.CreateFarm(ctx, Farm{ID: "f1"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate after restart: %v", err)
	}
}

func TestTwoRegistriesShareState(t *testing.T) {
	s := startNATS(t, t.TempDir())
	t.Cleanup(s.Shutdown)
	a := open(t, connect(t, s))
	b := open(t, connect(t, s))
	ctx := ctxT(t)

	var mu sync.Mutex
	var seen []string
	b.OnChange(func(kind, farm, id string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, kind+":"+farm+":"+id)
	})
	seed(t, a)
	d, pw, err := a.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "thermometer"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "B sees A's device", func() bool { _, ok := b.Device("f1", "d1"); return ok })
	if _, ok := b.Patient("f1", "p1"); !ok {
		t.Fatal("B does not see A's patient")
	}
	if _, err := b.Authenticate(ctx, d.Username, pw); err != nil {
		t.Fatalf("A's device on B: %v", err)
	}
	must(a.SetOverrides(ctx, "f1", "p1", map[string]float64{"temp.high": 38.5}))(t)
	eventually(t, "B sees A's overrides", func() bool {
		p, _ := b.Patient("f1", "p1")
		return p.Overrides["temp.high"] == 38.5
	})
	mu.Lock()
	if !slices.Contains(seen, "device:f1:d1") || !slices.Contains(seen, "patient:f1:p1") {
		t.Errorf("B's OnChange saw %v", seen)
	}
	mu.Unlock()

	// B can create under A's farm and A sees it.
	must(b.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileElderly}))(t)
	eventually(t, "A sees B's patient", func() bool { _, ok := a.Patient("f1", "p2"); return ok })

	// Racing creates of one id: exactly one wins.
	for i := range 10 {
		id := "race" + string(rune('a'+i))
		errs := make(chan error, 2)
		for _, r := range []*Registry{a, b} {
			go func() { _, err := r.CreateFarm(ctx, Farm{ID: id}); errs <- err }()
		}
		e1, e2 := <-errs, <-errs
		wins := 0
		for _, err := range []error{e1, e2} {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrExists):
				t.Fatalf("race %s: %v", id, err)
			}
		}
		if wins != 1 {
			t.Fatalf("race %s: %d winners", id, wins)
		}
	}
}

// A registry whose watcher has not (yet) delivered a record written by
// another node still finds it with one KV read.
func TestLookupFallsBackToBucket(t *testing.T) {
	s := startNATS(t, t.TempDir())
	t.Cleanup(s.Shutdown)
	a := open(t, connect(t, s))
	b := open(t, connect(t, s))
	b.Close() // freeze B's memory: from now on only the fallback can help
	ctx := ctxT(t)
	seed(t, a)
	d, pw, err := a.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "wearable"})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := a.CreateToken(ctx, "f1", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Device("f1", "d1"); ok {
		t.Fatal("B's watcher is still running after Close")
	}
	if _, err := b.Authenticate(ctx, d.Username, pw); err != nil {
		t.Fatalf("authenticate through fallback: %v", err)
	}
	if _, err := b.CheckToken(ctx, secret); err != nil {
		t.Fatalf("token through fallback: %v", err)
	}
	must(b.CreatePatient(ctx, Patient{Farm: "f1", ID: "p2", Profile: ProfileAdult}))(t)
	if _, err := b.Authenticate(ctx, "dev.f1.nobody", pw); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("unknown device through fallback: %v", err)
	}
}
