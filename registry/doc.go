// Package registry owns medbiz's provisioning records: Farms (tenants), their
// patients, devices, caregivers and farm API tokens, plus the credentials
// that let devices and caregivers connect over MQTT and companies call the
// HTTP API.
//
// # Storage
//
// Records live as JSON in one NATS JetStream key-value bucket (default
// "medbiz_registry", file storage, history 1), so the registry lives wherever
// NATS lives, survives restarts and is shared by every medbiz node pointed at
// the same NATS. Keys:
//
//	farm.<farm>
//	patient.<farm>.<patient>
//	device.<farm>.<device>
//	caregiver.<farm>.<caregiver>
//	token.<token id>
//
// Every record is mirrored into memory by a KV watcher (kv.WatchAll) owned by
// the Registry, so the MQTT hot path (auth hook, ingest hook) reads from
// memory under an RWMutex and never waits on the network. A Create writes
// with KV Create, which fails if the key exists, so two nodes racing for the
// same id cannot both succeed; on success the memory copy is updated at once
// (read-your-writes) and the watcher's echo of the same revision is ignored.
// Other nodes learn about the record through their watchers within
// milliseconds; a lookup that misses memory where a network round trip is
// acceptable (creating a child record, authenticating, checking a token)
// falls back to one KV Get so a device provisioned on node A can connect to
// node B at once.
//
// # Credentials
//
// Devices and caregivers may share ids inside a Farm, so their MQTT usernames
// carry the kind: "dev.<farm>.<device>" and "cg.<farm>.<caregiver>". Ids
// cannot contain dots, so the username parses unambiguously. Passwords are
// 24 random bytes from crypto/rand in URL-safe base64 (32 characters), shown
// once when created and stored only as bcrypt hashes. A successful bcrypt
// check is cached for Options.AuthCacheTTL, keyed by username and the SHA-256
// of the password, so an MQTT reconnect storm costs one bcrypt per device per
// TTL; failures are never cached and the cache is bounded (the least
// recently used checks go first).
//
// Farm API tokens look like "mbz_<token id>_<secret>": the token id is 12
// random hex characters and is the KV key, the secret is 32 random bytes in
// URL-safe base64. Only the SHA-256 of the secret is stored. bcrypt exists to
// slow down guessing of low-entropy human passwords; a 256-bit random secret
// cannot be guessed from its SHA-256, and bcrypt would add tens of
// milliseconds of CPU to every HTTP request. Token scopes are "read" and
// "write"; administration uses the server's admin token, not a farm token,
// so "admin" is not a farm token scope.
//
// All secret comparisons are constant-time. Usernames and token ids are not
// secrets, but whether one exists is not told either: an unknown username
// costs the same bcrypt comparison as a wrong password. At most
// Options.MaxConcurrentChecks comparisons run at once, so a login flood
// queues (and is refused as busy) instead of taking every core. Throttle
// keeps the failed-login allowance of each username and client address
// that callers (the MQTT broker) consult before checking a password.
//
// This package imports no broker, API or storage package; they import it.
package registry
