package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/medbiz/medbiz/registry"
)

// Reasons a CONNECT is refused, the label of medbiz_auth_failures_total.
const (
	refusedCredentials = "credentials" // wrong password, unknown username, or none
	refusedCertificate = "certificate" // a trusted certificate for no device, or for another username
	refusedWill        = "will"        // a will other than the device's own "offline" status
	refusedClientID    = "client_id"   // the client id is held by another user
	refusedBusy        = "busy"        // no password check could start in time
	refusedUnavailable = "unavailable" // the registry could not be read
)

// OnConnect decides whether a client may connect, and answers a refusal
// with its own CONNACK reason. mochi runs each connection's CONNECT in
// that connection's goroutine, so a slow check delays only its own
// client; what other clients could starve for is CPU, and the registry
// bounds the bcrypt comparisons running at once. A username or address
// that is backing off after failed logins is refused before any password
// is checked, so a flood of guesses costs next to nothing.
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	user := string(pk.Connect.Username)
	cn := verifiedCommonName(cl)
	if cn != "" && user == "" {
		// A client certificate names its device; MQTT needs no username.
		user = cn
		cl.Properties.Username = []byte(cn)
	}
	if !willAllowed(user, pk) {
		return h.refuse(cl, user, refusedWill, packets.ErrNotAuthorized, "a will is allowed only on the device's own status topic with the payload offline")
	}
	// medbiz publishes a device's retained "offline" itself when it drops
	// (status.go), guarded against a late offline after a reconnect, which
	// is what the one allowed will asks for. mochi would publish the will
	// without any ACL check or hook, so it never gets the chance.
	cl.Properties.Will = mqtt.Will{}

	attempt, err := h.throttle.Begin(user, remoteHost(cl))
	var te *registry.ThrottledError
	if errors.As(err, &te) {
		h.metrics.AuthThrottled.WithLabelValues(te.Scope).Inc()
		h.log.Info("connection refused", "username", user, "remote", cl.Net.Remote, "reason", "throttled", "scope", te.Scope, "retry_after", te.RetryAfter)
		return h.writeConnack(cl, packets.ErrConnectionRateExceeded, te.Error())
	}
	p, reason, err := h.authenticate(cl, pk, user, cn)
	switch {
	case err == nil:
		attempt.Succeeded()
	case reason == refusedBusy || reason == refusedUnavailable:
		attempt.Abandoned()
	default:
		attempt.Failed()
	}
	if err != nil {
		code := packets.ErrBadUsernameOrPassword
		switch reason {
		case refusedBusy:
			code = packets.ErrServerBusy
		case refusedUnavailable:
			code = packets.ErrServerUnavailable
		case refusedCertificate:
			code = packets.ErrNotAuthorized
		}
		return h.refuse(cl, user, reason, code, err.Error())
	}
	if old, ok := h.srv.Clients.Get(cl.ID); ok && string(old.Properties.Username) != user {
		return h.refuse(cl, user, refusedClientID, packets.ErrClientIdentifierNotValid, "the client id is in use by another user")
	}
	h.admitted.Store(cl, p)
	return nil
}

// authenticate checks the client's certificate or password.
func (h *authHook) authenticate(cl *mqtt.Client, pk packets.Packet, user, cn string) (registry.Principal, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.checkTimeout)
	defer cancel()
	if cn != "" {
		if user != cn {
			return registry.Principal{}, refusedCertificate, errors.New("the username is not the one the client certificate was issued to")
		}
		p, err := h.reg.DevicePrincipal(ctx, cn)
		if errors.Is(err, registry.ErrUnauthorized) {
			return p, refusedCertificate, errors.New("the client certificate names no provisioned device")
		}
		if err != nil {
			return p, refusedUnavailable, err
		}
		return p, "", nil
	}
	if user == "" {
		return registry.Principal{}, refusedCredentials, errors.New("no username")
	}
	p, err := h.reg.Authenticate(ctx, user, string(pk.Connect.Password))
	switch {
	case err == nil:
		return p, "", nil
	case errors.Is(err, registry.ErrUnauthorized):
		return p, refusedCredentials, err
	case errors.Is(err, registry.ErrBusy):
		return p, refusedBusy, err
	}
	return p, refusedUnavailable, err
}

// refuse counts and logs a refused CONNECT and answers it.
func (h *authHook) refuse(cl *mqtt.Client, user, reason string, code packets.Code, detail string) error {
	h.metrics.AuthFailures.WithLabelValues(reason).Inc()
	h.log.Info("connection refused", "username", user, "remote", cl.Net.Remote, "reason", reason, "detail", detail)
	return h.writeConnack(cl, code, "")
}

// v3Connack maps the MQTT 5 reasons medbiz refuses with to MQTT 3.1.1
// CONNACK return codes, which have no reason for a rate or a will.
var v3Connack = map[byte]packets.Code{
	packets.ErrBadUsernameOrPassword.Code:    packets.ErrMalformedUsernameOrPassword, // 0x04: bad user name or password
	packets.ErrNotAuthorized.Code:            packets.Err3NotAuthorized,
	packets.ErrConnectionRateExceeded.Code:   packets.Err3NotAuthorized,
	packets.ErrClientIdentifierNotValid.Code: packets.Err3ClientIdentifierNotValid,
	packets.ErrServerBusy.Code:               packets.Err3ServerUnavailable,
	packets.ErrServerUnavailable.Code:        packets.Err3ServerUnavailable,
}

// writeConnack sends a refusing CONNACK and returns the code as the error
// that makes mochi close the connection. reason, when set, replaces the
// code's reason string (MQTT 5 only).
func (h *authHook) writeConnack(cl *mqtt.Client, code packets.Code, reason string) error {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code}
	if cl.Properties.ProtocolVersion == 5 {
		ack.Properties.ReasonString = code.Reason
		if reason != "" {
			ack.Properties.ReasonString = reason
		}
	} else {
		ack.ReasonCode = v3Connack[code.Code].Code
	}
	if err := cl.WritePacket(ack); err != nil && !errors.Is(err, mqtt.ErrConnectionClosed) {
		h.log.Debug("connack not written", "client", cl.ID, "error", err)
	}
	return code
}

// willAllowed applies the will rule: no will, or a device's own status
// topic with the payload "offline". Caregivers set none.
func willAllowed(user string, pk packets.Packet) bool {
	if !pk.Connect.WillFlag {
		return true
	}
	kind, farm, id, ok := registry.ParseUsername(user)
	return ok && kind == registry.KindDevice &&
		pk.Connect.WillTopic == statusTopic(farm, id) && string(pk.Connect.WillPayload) == "offline"
}

// verifiedCommonName is the subject CN of a client certificate that the
// TLS listener verified against mqtt.client_ca, or "".
func verifiedCommonName(cl *mqtt.Client) string {
	c, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return ""
	}
	st := c.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}

// remoteHost is the client's address without its port: the key of the
// per-address login limit.
func remoteHost(cl *mqtt.Client) string {
	host, _, err := net.SplitHostPort(cl.Net.Remote)
	if err != nil {
		return cl.Net.Remote
	}
	return host
}
