package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// Options configure a Registry. Zero values take the defaults noted.
type Options struct {
	// Bucket is the KV bucket name; default "medbiz_registry".
	Bucket string
	// Replicas of the KV bucket when it is created; default 1. Use 3 on a
	// NATS cluster.
	Replicas int
	// AuthCacheTTL is how long a successful password check is remembered;
	// default 2m, negative disables the cache.
	AuthCacheTTL time.Duration
	// AuthCacheSize bounds the number of cached checks; default 100000.
	AuthCacheSize int
	// BcryptCost for new passwords; default bcrypt.DefaultCost. Tests use
	// bcrypt.MinCost.
	BcryptCost int
	// Logger; default slog.Default(). The registry adds component=registry.
	Logger *slog.Logger
	// MaxConcurrentChecks bounds the bcrypt comparisons run at once;
	// default GOMAXPROCS. Authenticate waits for a free slot until its ctx
	// ends, then answers ErrBusy.
	MaxConcurrentChecks int
}

// DefaultBucket is the KV bucket used when Options.Bucket is empty.
const DefaultBucket = "medbiz_registry"

func (o *Options) setDefaults() error {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		return fmt.Errorf("registry: replicas %d out of range 1..5", o.Replicas)
	}
	if o.AuthCacheTTL == 0 {
		o.AuthCacheTTL = 2 * time.Minute
	}
	if o.AuthCacheSize <= 0 {
		o.AuthCacheSize = 100_000
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost {
		return fmt.Errorf("registry: bcrypt cost %d out of range %d..%d", o.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxConcurrentChecks <= 0 {
		o.MaxConcurrentChecks = runtime.GOMAXPROCS(0)
	}
	return nil
}

// Registry is the in-memory mirror of the registry bucket plus the
// operations that change it. It is safe for concurrent use.
type Registry struct {
	kv   jetstream.KeyValue
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex
	farms  map[string]*farmState
	tokens map[string]tokenEntry
	// revs is the last applied KV revision per key, so a watcher echo of an
	// older revision never overwrites a newer local write.
	revs map[string]uint64

	cbMu      sync.Mutex
	callbacks []func(kind, farm, id string)

	// cache holds successful password checks; nil when disabled.
	cache *expirable.LRU[authKey, []byte]
	// checks holds one token per bcrypt comparison running (checkPassword).
	checks chan struct{}
	// nobodyHash is compared against when a username is unknown (checkNobody).
	nobodyHash []byte
	// compare checks a password against its hash; tests replace it to
	// count bcrypt calls.
	compare func(hash, password []byte) error
	// now is the clock for Created stamps and birth dates.
	now func() time.Time

	watcher   jetstream.KeyWatcher
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	stopping  atomic.Bool
}

type farmState struct {
	farm       Farm
	exists     bool // false while only children of the farm are known
	patients   map[string]Patient
	devices    map[string]deviceEntry
	caregivers map[string]caregiverEntry
}

type deviceEntry struct {
	Device
	hash []byte
}

type caregiverEntry struct {
	Caregiver
	hash []byte
}

type tokenEntry struct {
	Token
	sum [32]byte
}

// Open binds the registry to its KV bucket (creating it if missing), loads
// every record, and starts the watcher that keeps memory in step with the
// bucket until Close. ctx bounds the opening only.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Registry, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	kv, err := openBucket(ctx, js, opts)
	if err != nil {
		return nil, err
	}
	nobody, err := newNobodyHash(opts.BcryptCost)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		kv:      kv,
		opts:    opts,
		log:     opts.Logger.With("component", "registry"),
		farms:   make(map[string]*farmState),
		tokens:  make(map[string]tokenEntry),
		revs:    make(map[string]uint64),
		cache:   newAuthCache(opts.AuthCacheSize, opts.AuthCacheTTL),
		compare: bcrypt.CompareHashAndPassword,
		now:     time.Now,
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.checks, r.nobodyHash = make(chan struct{}, opts.MaxConcurrentChecks), nobody
	// The watcher outlives ctx: its subscription must not die when the
	// caller's opening deadline passes.
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("watch bucket %s: %w", opts.Bucket, err)
	}
	r.watcher = w
	ready := make(chan struct{})
	go r.watch(w, ready)
	select {
	case <-ready:
	case <-r.done:
		r.Close()
		return nil, fmt.Errorf("load bucket %s: watcher ended before the initial load", opts.Bucket)
	case <-ctx.Done():
		r.Close()
		return nil, fmt.Errorf("load bucket %s: %w", opts.Bucket, ctx.Err())
	}
	r.mu.RLock()
	r.log.Info("registry loaded", "bucket", opts.Bucket, "farms", len(r.farms), "tokens", len(r.tokens))
	r.mu.RUnlock()
	return r, nil
}

func openBucket(ctx context.Context, js jetstream.JetStream, opts Options) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, opts.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open bucket %s: %w", opts.Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "medbiz registry: farms, patients, devices, caregivers, tokens",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Another node created it between our two calls.
		kv, err = js.KeyValue(ctx, opts.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", opts.Bucket, err)
	}
	return kv, nil
}

// Close stops the watcher and waits for its goroutine. Reads keep working
// on the last known state; it is safe to call more than once.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		r.stopping.Store(true)
		// Unsubscribing closes the updates channel (from the NATS client's
		// goroutine), which ends watch; keep it draining meanwhile so the
		// client's callback never blocks on a full channel.
		if err := r.watcher.Stop(); err != nil {
			r.log.Debug("stop registry watcher", "err", err)
		}
		select {
		case <-r.done:
			return
		case <-time.After(5 * time.Second):
		}
		close(r.quit)
		<-r.done
	})
}

// OnChange registers fn, called from the watcher goroutine after every
// change to a record (on this node or another), with the change kind
// (ChangeFarm, ChangePatient, …), the farm and the record id. fn must be
// quick and must not call OnChange.
func (r *Registry) OnChange(fn func(kind, farm, id string)) {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.callbacks = append(r.callbacks, fn)
}

func (r *Registry) watch(w jetstream.KeyWatcher, ready chan<- struct{}) {
	defer close(r.done)
	loaded := false
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if !r.stopping.Load() {
					// Only a closed NATS connection ends the watch
					// unasked; reads keep serving the last state.
					r.log.Warn("registry watcher ended; changes from other nodes are no longer seen")
				}
				return
			}
			if e == nil {
				if !loaded {
					loaded = true
					close(ready)
				}
				continue
			}
			deleted := e.Operation() != jetstream.KeyValuePut
			kind, farm, id, err := r.apply(e.Key(), e.Value(), e.Revision(), deleted)
			if err != nil {
				r.log.Warn("skip registry record", "key", e.Key(), "revision", e.Revision(), "err", err)
				continue
			}
			if loaded {
				r.notify(kind, farm, id)
			}
		case <-r.quit:
			return
		}
	}
}

func (r *Registry) notify(kind, farm, id string) {
	r.cbMu.Lock()
	cbs := slices.Clone(r.callbacks)
	r.cbMu.Unlock()
	for _, fn := range cbs {
		fn(kind, farm, id)
	}
}

// splitKey parses "<kind>.<farm>.<id>", "farm.<farm>" and "token.<id>".
func splitKey(key string) (kind, farm, id string, ok bool) {
	kind, rest, found := strings.Cut(key, ".")
	if !found {
		return "", "", "", false
	}
	switch kind {
	case ChangeFarm:
		return kind, rest, rest, ValidID(rest)
	case ChangeToken:
		return kind, "", rest, validTokenID(rest)
	case ChangePatient, ChangeDevice, ChangeCaregiver:
		farm, id, found = strings.Cut(rest, ".")
		return kind, farm, id, found && ValidID(farm) && ValidID(id)
	}
	return "", "", "", false
}

// apply mirrors one KV entry into memory. Revisions at or below the last
// applied one for the key are ignored (the watcher echoing a local write).
func (r *Registry) apply(key string, value []byte, rev uint64, deleted bool) (kind, farm, id string, err error) {
	kind, farm, id, ok := splitKey(key)
	if !ok {
		return "", "", "", fmt.Errorf("unknown key")
	}
	var rec any
	if !deleted {
		if rec, err = decodeRecord(kind, farm, id, value); err != nil {
			return "", "", "", err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rev <= r.revs[key] {
		if kind == ChangeToken {
			farm = r.tokens[id].Farm
		}
		return kind, farm, id, nil
	}
	r.revs[key] = rev
	if kind == ChangeToken {
		if deleted {
			delete(r.tokens, id)
			return kind, farm, id, nil
		}
		te := rec.(tokenEntry)
		r.tokens[id] = te
		return kind, te.Farm, id, nil
	}
	fs := r.farms[farm]
	if fs == nil {
		if deleted {
			return kind, farm, id, nil
		}
		fs = &farmState{
			patients:   make(map[string]Patient),
			devices:    make(map[string]deviceEntry),
			caregivers: make(map[string]caregiverEntry),
		}
		r.farms[farm] = fs
	}
	switch kind {
	case ChangeFarm:
		if deleted {
			fs.farm, fs.exists = Farm{}, false
		} else {
			fs.farm, fs.exists = rec.(Farm), true
		}
	case ChangePatient:
		if deleted {
			delete(fs.patients, id)
		} else {
			fs.patients[id] = rec.(Patient)
		}
	case ChangeDevice:
		if deleted {
			delete(fs.devices, id)
		} else {
			fs.devices[id] = rec.(deviceEntry)
		}
	case ChangeCaregiver:
		if deleted {
			delete(fs.caregivers, id)
		} else {
			fs.caregivers[id] = rec.(caregiverEntry)
		}
	}
	return kind, farm, id, nil
}

// fetch reads one key straight from the bucket and mirrors it, for lookups
// that missed memory because the watcher has not yet delivered a record
// another node just wrote. It reports whether the key exists.
func (r *Registry) fetch(ctx context.Context, key string) (bool, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	if _, _, _, err := r.apply(e.Key(), e.Value(), e.Revision(), false); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}
