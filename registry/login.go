package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// ErrBusy means a password could not be checked in time because as many
// checks as Options.MaxConcurrentChecks were already running. It says
// nothing about the credentials; the caller should ask the client to retry.
var ErrBusy = errors.New("too many password checks at once")

// checkPassword runs one bcrypt comparison, at most MaxConcurrentChecks at
// a time: a flood of logins then queues instead of taking every core, and
// a check that cannot start before ctx ends gives ErrBusy.
func (r *Registry) checkPassword(ctx context.Context, hash, password []byte) error {
	select {
	case r.checks <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("check password: %w", ErrBusy)
	}
	defer func() { <-r.checks }()
	return r.compare(hash, password)
}

// checkNobody spends on an unknown username the bcrypt comparison a known
// one would cost, against a hash made at the configured cost, so the time
// of an answer does not tell which usernames exist. Its result is always
// ErrUnauthorized (or ErrBusy).
func (r *Registry) checkNobody(ctx context.Context, password string) error {
	if err := r.checkPassword(ctx, r.nobodyHash, []byte(password)); errors.Is(err, ErrBusy) {
		return err
	}
	return ErrUnauthorized
}

// newNobodyHash is the bcrypt hash, at cost, of a random password nobody
// knows.
func newNobodyHash(cost int) ([]byte, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate placeholder password: %w", err)
	}
	h, err := bcrypt.GenerateFromPassword(b[:], cost)
	if err != nil {
		return nil, fmt.Errorf("hash placeholder password: %w", err)
	}
	return h, nil
}

// ParseUsername splits an MQTT username, "dev.<farm>.<device>" or
// "cg.<farm>.<caregiver>", into its kind (KindDevice, KindCaregiver), farm
// and id. It checks the form only, not that the record exists.
func ParseUsername(u string) (kind, farm, id string, ok bool) { return parseUsername(u) }

// DevicePrincipal returns the device whose username is given, for a login
// proven some other way than by password (a client certificate issued to
// that username). It answers ErrUnauthorized for a username that is not a
// provisioned device's. ctx bounds the one KV read made when the device is
// not yet in memory.
func (r *Registry) DevicePrincipal(ctx context.Context, username string) (Principal, error) {
	kind, farm, id, ok := parseUsername(username)
	if !ok || kind != KindDevice {
		return Principal{}, ErrUnauthorized
	}
	if p, _, ok := r.lookupCredential(kind, farm, id); ok {
		return p, nil
	}
	found, err := r.fetch(ctx, deviceKey(farm, id))
	if err != nil {
		return Principal{}, fmt.Errorf("device %s: %w", username, err)
	}
	if p, _, ok := r.lookupCredential(kind, farm, id); found && ok {
		return p, nil
	}
	return Principal{}, ErrUnauthorized
}
