package broker

import "strings"

// Topic kinds a client may use (docs/contract.md#device-topics and
// docs/contract.md#caregiver-topics).
const (
	topicOther = iota
	topicTelemetry
	topicStatus
	topicErrors
	topicAlerts // farms/{farm}/alerts/{patient}; patient may be "+"
	topicAck    // farms/{farm}/alerts/{patient}/{alert id}/ack
)

// topic is a parsed medbiz topic name or filter.
type topic struct {
	kind    int
	farm    string
	device  string
	patient string
	alertID string
}

// parseTopic splits a topic without allocating a slice.
func parseTopic(t string) topic {
	rest, ok := strings.CutPrefix(t, "farms/")
	if !ok {
		return topic{}
	}
	farm, rest, ok := strings.Cut(rest, "/")
	if !ok || farm == "" {
		return topic{}
	}
	section, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return topic{}
	}
	switch section {
	case "devices":
		device, leaf, ok := strings.Cut(rest, "/")
		if !ok || device == "" {
			return topic{}
		}
		switch leaf {
		case "telemetry":
			return topic{kind: topicTelemetry, farm: farm, device: device}
		case "status":
			return topic{kind: topicStatus, farm: farm, device: device}
		case "errors":
			return topic{kind: topicErrors, farm: farm, device: device}
		}
	case "alerts":
		patient, rest, more := strings.Cut(rest, "/")
		if patient == "" {
			return topic{}
		}
		if !more {
			return topic{kind: topicAlerts, farm: farm, patient: patient}
		}
		id, leaf, ok := strings.Cut(rest, "/")
		if ok && leaf == "ack" && id != "" && patient != "+" {
			return topic{kind: topicAck, farm: farm, patient: patient, alertID: id}
		}
	}
	return topic{}
}

// hasWildcard reports MQTT wildcards in a level that must be concrete.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "+#") }

// Topic names of docs/contract.md#device-topics that medbiz publishes to.
func statusTopic(farm, device string) string {
	return "farms/" + farm + "/devices/" + device + "/status"
}
func errorsTopic(farm, device string) string {
	return "farms/" + farm + "/devices/" + device + "/errors"
}

// AlertTopic is where caregivers receive a patient's alerts.
func AlertTopic(farm, patient string) string { return "farms/" + farm + "/alerts/" + patient }
