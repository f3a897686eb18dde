package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/crypto/bcrypt"
)

const (
	devicePrefix    = "dev."
	caregiverPrefix = "cg."
	tokenPrefix     = "mbz_"
	tokenIDLen      = 12 // hex characters
	// bcrypt reads at most 72 bytes; longer passwords are never ours.
	maxPasswordLen = 72
)

// DeviceUsername is the MQTT username of a device: "dev.<farm>.<device>".
func DeviceUsername(farm, id string) string { return devicePrefix + farm + "." + id }

// CaregiverUsername is the MQTT username of a caregiver: "cg.<farm>.<id>".
func CaregiverUsername(farm, id string) string { return caregiverPrefix + farm + "." + id }

// newPassword returns a random password (24 bytes from crypto/rand, 32
// characters of URL-safe base64) and its bcrypt hash.
func (r *Registry) newPassword() (password, hash string, err error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("generate password: %w", err)
	}
	password = base64.RawURLEncoding.EncodeToString(b[:])
	h, err := bcrypt.GenerateFromPassword([]byte(password), r.opts.BcryptCost)
	if err != nil {
		return "", "", fmt.Errorf("hash password: %w", err)
	}
	return password, string(h), nil
}

// newToken returns a token id, the full secret token string and the hex
// SHA-256 of its secret part.
func newToken() (id, token, sum string, err error) {
	var idb [tokenIDLen / 2]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", "", fmt.Errorf("generate token id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", "", fmt.Errorf("generate token secret: %w", err)
	}
	id = hex.EncodeToString(idb[:])
	s := base64.RawURLEncoding.EncodeToString(secret[:])
	h := sha256.Sum256([]byte(s))
	return id, tokenPrefix + id + "_" + s, hex.EncodeToString(h[:]), nil
}

func validTokenID(s string) bool {
	if len(s) != tokenIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseUsername splits "dev.<farm>.<id>" or "cg.<farm>.<id>".
func parseUsername(u string) (kind, farm, id string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(u, devicePrefix):
		kind, rest = KindDevice, u[len(devicePrefix):]
	case strings.HasPrefix(u, caregiverPrefix):
		kind, rest = KindCaregiver, u[len(caregiverPrefix):]
	default:
		return "", "", "", false
	}
	farm, id, ok = strings.Cut(rest, ".")
	return kind, farm, id, ok && ValidID(farm) && ValidID(id)
}

// lookupCredential returns the principal and password hash for a username
// from memory.
func (r *Registry) lookupCredential(kind, farm, id string) (Principal, []byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fs := r.farms[farm]
	if fs == nil {
		return Principal{}, nil, false
	}
	if kind == KindDevice {
		d, ok := fs.devices[id]
		return Principal{Kind: KindDevice, Farm: farm, ID: id, Patient: d.Patient}, d.hash, ok
	}
	c, ok := fs.caregivers[id]
	return Principal{Kind: KindCaregiver, Farm: farm, ID: id, Patients: c.Patients}, c.hash, ok
}

// Authenticate checks MQTT credentials and returns who they belong to, or
// ErrUnauthorized. A success is cached (see Options.AuthCacheTTL), so
// repeated connects of one device cost one bcrypt per TTL. ctx bounds the
// single KV read made when the user is not yet in memory.
func (r *Registry) Authenticate(ctx context.Context, username, password string) (Principal, error) {
	kind, farm, id, ok := parseUsername(username)
	if !ok || password == "" || len(password) > maxPasswordLen {
		return Principal{}, ErrUnauthorized
	}
	p, hash, ok := r.lookupCredential(kind, farm, id)
	if !ok {
		key := deviceKey(farm, id)
		if kind == KindCaregiver {
			key = caregiverKey(farm, id)
		}
		found, err := r.fetch(ctx, key)
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate %s: %w", username, err)
		}
		if !found {
			return Principal{}, r.checkNobody(ctx, password)
		}
		if p, hash, ok = r.lookupCredential(kind, farm, id); !ok {
			return Principal{}, r.checkNobody(ctx, password)
		}
	}
	ck := authKey{user: username, sum: sha256.Sum256([]byte(password))}
	if r.cache != nil {
		// The entry holds the hash the password matched: once the password
		// changes (a new hash), the entry no longer counts.
		if h, ok := r.cache.Get(ck); ok && subtle.ConstantTimeCompare(h, hash) == 1 {
			return p, nil
		}
	}
	if err := r.checkPassword(ctx, hash, []byte(password)); err != nil {
		if errors.Is(err, ErrBusy) {
			return Principal{}, err
		}
		return Principal{}, ErrUnauthorized
	}
	if r.cache != nil {
		r.cache.Add(ck, hash)
	}
	return p, nil
}

// CheckToken verifies a farm API token ("mbz_<id>_<secret>") and returns
// its public part, or ErrUnauthorized. Callers check Token.Farm against the
// farm being accessed and Token.HasScope for the operation.
func (r *Registry) CheckToken(ctx context.Context, token string) (Token, error) {
	const head = len(tokenPrefix) + tokenIDLen
	if len(token) < head+2 || !strings.HasPrefix(token, tokenPrefix) || token[head] != '_' {
		return Token{}, ErrUnauthorized
	}
	id, secret := token[len(tokenPrefix):head], token[head+1:]
	if !validTokenID(id) {
		return Token{}, ErrUnauthorized
	}
	r.mu.RLock()
	t, ok := r.tokens[id]
	r.mu.RUnlock()
	if !ok {
		found, err := r.fetch(ctx, tokenKey(id))
		if err != nil {
			return Token{}, fmt.Errorf("check token %s: %w", id, err)
		}
		if !found {
			return Token{}, ErrUnauthorized
		}
		r.mu.RLock()
		t, ok = r.tokens[id]
		r.mu.RUnlock()
		if !ok {
			return Token{}, ErrUnauthorized
		}
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], t.sum[:]) != 1 {
		return Token{}, ErrUnauthorized
	}
	return t.Token, nil
}

// authKey identifies one verified (username, password) pair without
// keeping the password itself in memory.
type authKey struct {
	user string
	sum  [32]byte
}

// newAuthCache remembers successful password checks for ttl, at most size
// of them (least recently used go first), or returns nil (no cache) for a
// ttl that is not positive. Each value is the bcrypt hash the password
// matched. Failures are never cached.
//
// The library sweeps expired entries in a goroutine of its own that, in
// golang-lru v2, has no way to stop (its documented limitation); there is
// one per registry, waking every ttl/100, for the life of the process.
func newAuthCache(size int, ttl time.Duration) *expirable.LRU[authKey, []byte] {
	if ttl <= 0 {
		return nil
	}
	return expirable.NewLRU[authKey, []byte](size, nil, ttl)
}
