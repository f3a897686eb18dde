package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/medbiz/medbiz/registry"
)

const idPattern = "^[a-z0-9][a-z0-9_-]{0,62}$"

// AuthHeader carries the bearer token of every call.
type AuthHeader struct {
	Authorization string `header:"Authorization" doc:"Bearer token"`
}

// FarmPath is the farm of a farm-scoped call.
type FarmPath struct {
	AuthHeader
	Farm string `path:"farm" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" doc:"farm id"`
}

type createFarmInput struct {
	AuthHeader
	Body struct {
		ID   string `json:"id" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" doc:"farm id"`
		Name string `json:"name,omitempty" maxLength:"200" doc:"display name"`
	}
}

type farmOutput struct {
	Body registry.Farm
}

type createPatientInput struct {
	FarmPath
	Body struct {
		ID        string             `json:"id" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$"`
		Profile   string             `json:"profile" enum:"adult,elderly,infant"`
		BirthDate string             `json:"birth_date,omitempty" doc:"YYYY-MM-DD; required for infants"`
		Overrides map[string]float64 `json:"overrides,omitempty" doc:"per-patient rule thresholds"`
	}
}

type patientOutput struct {
	Body registry.Patient
}

type overridesInput struct {
	FarmPath
	Patient string             `path:"patient" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$"`
	Body    map[string]float64 `doc:"threshold overrides; replaces the patient's current set"`
}

type createDeviceInput struct {
	FarmPath
	Body struct {
		ID      string `json:"id" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$"`
		Patient string `json:"patient" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$"`
		Kind    string `json:"kind" doc:"bp_monitor, pulse_oximeter, thermometer, glucose_meter, ecg_patch, motion_sensor, sos_button, breathing_monitor, scale, wearable, other"`
	}
}

// Credentials are the MQTT username and password of a device or caregiver.
type Credentials struct {
	ID       string   `json:"id"`
	Username string   `json:"username" doc:"MQTT username"`
	Password string   `json:"password" doc:"MQTT password; shown only in this answer"`
	Patient  string   `json:"patient,omitempty" doc:"a device's patient"`
	Kind     string   `json:"kind,omitempty" doc:"a device's kind"`
	Patients []string `json:"patients,omitempty" doc:"a caregiver's patients"`
}

type credentialsOutput struct {
	Body Credentials
}

type createCaregiverInput struct {
	FarmPath
	Body struct {
		ID       string   `json:"id" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$"`
		Patients []string `json:"patients" minItems:"1"`
	}
}

type createTokenInput struct {
	FarmPath
	Body struct {
		Scopes []string `json:"scopes" minItems:"1" doc:"read, write"`
	}
}

type tokenOutput struct {
	Body struct {
		Token  string   `json:"token" doc:"the farm token; shown only in this answer"`
		ID     string   `json:"id"`
		Farm   string   `json:"farm"`
		Scopes []string `json:"scopes"`
	}
}

type listFarmsOutput struct {
	Body []registry.Farm
}

func (a *API) registerProvisioning(api huma.API) {
	tags := []string{"provisioning"}
	huma.Register(api, huma.Operation{
		OperationID: "create-farm", Method: http.MethodPost, Path: "/api/v1/farms",
		Summary: "Create a farm and its InfluxDB bucket", Tags: tags, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *createFarmInput) (*farmOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		if _, ok := a.d.Registry.Farm(in.Body.ID); ok {
			return nil, huma.Error409Conflict("farm " + in.Body.ID + " exists")
		}
		// The bucket first: a farm whose bucket could not be made would
		// accept data it cannot store.
		if err := a.d.Store.EnsureBucket(ctx, in.Body.ID); err != nil {
			return nil, a.fail("create bucket", err)
		}
		f, err := a.d.Registry.CreateFarm(ctx, registry.Farm{ID: in.Body.ID, Name: in.Body.Name})
		if err != nil {
			return nil, a.fail("create farm", err)
		}
		return &farmOutput{Body: f}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-farms", Method: http.MethodGet, Path: "/api/v1/farms", Summary: "List farms", Tags: tags,
	}, func(ctx context.Context, in *AuthHeader) (*listFarmsOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		return &listFarmsOutput{Body: a.d.Registry.Farms()}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "create-patient", Method: http.MethodPost, Path: "/api/v1/farms/{farm}/patients",
		Summary: "Create a patient", Tags: tags, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *createPatientInput) (*patientOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		p, err := a.d.Registry.CreatePatient(ctx, registry.Patient{
			Farm: in.Farm, ID: in.Body.ID, Profile: in.Body.Profile, BirthDate: in.Body.BirthDate, Overrides: in.Body.Overrides,
		})
		if err != nil {
			return nil, a.fail("create patient", err)
		}
		return &patientOutput{Body: p}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "set-overrides", Method: http.MethodPut, Path: "/api/v1/farms/{farm}/patients/{patient}/overrides",
		Summary: "Replace a patient's rule threshold overrides", Tags: tags,
	}, func(ctx context.Context, in *overridesInput) (*patientOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		p, err := a.d.Registry.SetOverrides(ctx, in.Farm, in.Patient, in.Body)
		if err != nil {
			return nil, a.fail("set overrides", err)
		}
		return &patientOutput{Body: p}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "create-device", Method: http.MethodPost, Path: "/api/v1/farms/{farm}/devices",
		Summary: "Create a device and its MQTT credentials", Tags: tags, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *createDeviceInput) (*credentialsOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		d, pw, err := a.d.Registry.CreateDevice(ctx, registry.Device{Farm: in.Farm, ID: in.Body.ID, Patient: in.Body.Patient, Kind: in.Body.Kind})
		if err != nil {
			return nil, a.fail("create device", err)
		}
		return &credentialsOutput{Body: Credentials{ID: d.ID, Username: d.Username, Password: pw, Patient: d.Patient, Kind: d.Kind}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "create-caregiver", Method: http.MethodPost, Path: "/api/v1/farms/{farm}/caregivers",
		Summary: "Create a caregiver and its MQTT credentials", Tags: tags, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *createCaregiverInput) (*credentialsOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		c, pw, err := a.d.Registry.CreateCaregiver(ctx, registry.Caregiver{Farm: in.Farm, ID: in.Body.ID, Patients: in.Body.Patients})
		if err != nil {
			return nil, a.fail("create caregiver", err)
		}
		return &credentialsOutput{Body: Credentials{ID: c.ID, Username: c.Username, Password: pw, Patients: c.Patients}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: "/api/v1/farms/{farm}/tokens",
		Summary: "Create an API token for one farm", Tags: tags, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *createTokenInput) (*tokenOutput, error) {
		if err := a.requireAdmin(in.Authorization); err != nil {
			return nil, err
		}
		t, secret, err := a.d.Registry.CreateToken(ctx, in.Farm, in.Body.Scopes)
		if err != nil {
			return nil, a.fail("create token", err)
		}
		out := &tokenOutput{}
		out.Body.Token, out.Body.ID, out.Body.Farm, out.Body.Scopes = secret, t.ID, t.Farm, t.Scopes
		return out, nil
	})
}
