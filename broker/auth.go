package broker

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/medbiz/medbiz/registry"
)

// authHook admits only provisioned devices and caregivers and confines each
// to its own topics. It is the only hook that answers OnACLCheck, since
// mochi allows an action when any hook allows it. Admission itself (will
// rules, login throttling, password or client certificate) is in
// connect.go.
type authHook struct {
	mqtt.HookBase
	srv      *mqtt.Server
	reg      *registry.Registry
	throttle *registry.Throttle
	metrics  *Metrics
	// checkTimeout bounds a login's wait for a password check and the
	// registry.
	checkTimeout time.Duration
	log          *slog.Logger

	// principals maps a connected username to who it is, filled at
	// CONNECT so ACL checks never touch the registry's credentials.
	principals sync.Map // string -> registry.Principal
	// admitted holds, between OnConnect and OnConnectAuthenticate, the
	// principal of a client OnConnect let in.
	admitted sync.Map // *mqtt.Client -> registry.Principal
}

func (h *authHook) ID() string { return "medbiz-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// OnConnectAuthenticate lets in the clients OnConnect admitted. mochi
// calls it only after every OnConnect returned nil; the decision is made
// there because only OnConnect can choose the CONNACK's reason code.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	v, ok := h.admitted.LoadAndDelete(cl)
	if !ok {
		return false
	}
	h.principals.Store(string(cl.Properties.Username), v)
	return true
}

// principal returns who a connected client is.
func (h *authHook) principal(cl *mqtt.Client) (registry.Principal, bool) {
	v, ok := h.principals.Load(string(cl.Properties.Username))
	if !ok {
		return registry.Principal{}, false
	}
	return v.(registry.Principal), true
}

// OnACLCheck allows a device its own telemetry and status (publish) and
// errors (subscribe); a caregiver its patients' alerts (subscribe, also as
// farms/{farm}/alerts/+, which mochi checks again per delivered topic) and
// acknowledgements of them (publish).
func (h *authHook) OnACLCheck(cl *mqtt.Client, name string, write bool) bool {
	p, ok := h.principal(cl)
	if !ok {
		return false
	}
	t := parseTopic(name)
	if t.farm != p.Farm || hasWildcard(t.farm) {
		return false
	}
	switch p.Kind {
	case registry.KindDevice:
		if t.device != p.ID {
			return false
		}
		if write {
			return t.kind == topicTelemetry || t.kind == topicStatus
		}
		return t.kind == topicErrors
	case registry.KindCaregiver:
		if write {
			return t.kind == topicAck && slices.Contains(p.Patients, t.patient)
		}
		if t.kind != topicAlerts {
			return false
		}
		return t.patient == "+" || slices.Contains(p.Patients, t.patient)
	}
	return false
}
