package bus

import (
	"fmt"
	"strings"
	"time"
)

// AckMessage is a caregiver's acknowledgement on the CONTROL stream.
type AckMessage struct {
	Farm    string    `json:"farm"`
	Patient string    `json:"patient"`
	AlertID string    `json:"alert_id"`
	By      string    `json:"by"`
	TS      time.Time `json:"ts"`
}

// StatusMessage is a device's connection change on the CONTROL stream.
type StatusMessage struct {
	Farm    string `json:"farm"`
	Patient string `json:"patient"`
	Device  string `json:"device"`
	// Status is "online" or "offline".
	Status string `json:"status"`
	// Unexpected is true when the device went offline without a DISCONNECT
	// (its will message fired, or the network dropped it).
	Unexpected bool      `json:"unexpected,omitempty"`
	TS         time.Time `json:"ts"`
}

// ActiveAlertsBucket is the key-value bucket holding every alert that is
// not resolved, so a caregiver who connects later learns them.
const ActiveAlertsBucket = "medbiz_active_alerts"

// ActiveAlertKey is an alert's key in ActiveAlertsBucket.
func ActiveAlertKey(farm, patient, id string) string { return farm + "." + patient + "." + id }

// ActiveAlertsOfFarm is the key filter of one farm's active alerts.
func ActiveAlertsOfFarm(farm string) string { return farm + ".>" }

// ParseActiveAlertKey reads <farm>.<patient>.<alert id>.
func ParseActiveAlertKey(key string) (farm, patient, id string, err error) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("active alert key %q: want <farm>.<patient>.<alert id>", key)
	}
	return parts[0], parts[1], parts[2], nil
}
