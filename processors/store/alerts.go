package store

import (
	"encoding/json"
	"fmt"

	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/storage"
)

// EncodeAlert writes one alert state change (the JSON caregivers receive)
// as a point of the measurement "alerts": tags patient, rule, severity and
// state, the whole message in the field "event" (the API lists alerts from
// it), and the escalation level. Its time is the change's time, so a
// redelivered change lands on the same point.
func EncodeAlert(_ string, data []byte) (string, []byte, int, error) {
	var ev rules.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return "", nil, 0, fmt.Errorf("alert message: %w", err)
	}
	if ev.Farm == "" || ev.Patient == "" || ev.ID == "" {
		return "", nil, 0, fmt.Errorf("alert message without farm, patient or id")
	}
	line, err := storage.AppendLine(nil, storage.Point{
		Measurement: "alerts",
		Tags: []storage.Tag{
			{Key: "patient", Value: ev.Patient}, {Key: "rule", Value: ev.Rule},
			{Key: "severity", Value: ev.Severity}, {Key: "state", Value: ev.State},
		},
		Fields: []storage.Field{
			{Key: "id", Value: ev.ID}, {Key: "event", Value: string(data)}, {Key: "escalation", Value: int64(ev.Escalation)},
		},
		Time: ev.TS,
	})
	if err != nil {
		return "", nil, 0, err
	}
	return ev.Farm, line, 1, nil
}
