package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Creds are one device's identity on a target.
type Creds struct {
	Farm     string
	Patient  string
	Device   string
	Username string
	Password string
}

// Topic is the device's telemetry topic.
func (c Creds) Topic() string { return "farms/" + c.Farm + "/devices/" + c.Device + "/telemetry" }

// ClientID is the MQTT client id the device uses: its username when it
// has one, else a name unique on the target.
func (c Creds) ClientID() string {
	if c.Username != "" {
		return c.Username
	}
	return "bench-" + c.Farm + "-" + c.Device
}

// AlertProbe tells the latency bench how to watch for the alert an SOS
// press causes: whom to connect as, what to subscribe to, and how to tell
// which pressing patient a received message is about.
type AlertProbe struct {
	Login  Creds
	Filter string
	// Match returns the patient a message on Filter alerts about, and
	// false for anything else (other alerts, background traffic).
	Match func(topic string, payload []byte) (patient string, ok bool)
}

// Target is a system under test. The medbiz target is the in-process
// medbiz app; MochiTarget is the plain-broker baseline.
type Target interface {
	// Name labels the target's column in the report.
	Name() string
	// MQTTAddr is host:port of the MQTT TCP listener.
	MQTTAddr() string
	// Provision creates n new devices, each for its own new patient, and
	// returns their credentials.
	Provision(ctx context.Context, n int) ([]Creds, error)
	// AlertProbe prepares a watcher for the alerts of the given devices'
	// SOS presses.
	AlertProbe(ctx context.Context, presses []Creds) (AlertProbe, error)
	// CountStored is how many measurements the target has kept so far
	// (stored for medbiz; delivered to its subscriber for the baseline).
	CountStored(ctx context.Context) (int, error)
	// RSS is the resident memory of the process serving MQTT, in bytes.
	RSS() (int64, error)
	// Close stops what the target started.
	Close(ctx context.Context) error
}

// Drainer is a target whose stream processors can fall behind: Drain
// waits until they have caught up (or timeout passes).
type Drainer interface {
	Drain(ctx context.Context, timeout time.Duration) error
}

// ErrUnsupported is returned by a target for a measurement it cannot make.
var ErrUnsupported = errors.New("not supported by this target")

// ProcRSS reads VmRSS of a process from /proc (pid 0: this process).
func ProcRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", line, err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	return 0, fmt.Errorf("read RSS: no VmRSS in %s", path)
}
