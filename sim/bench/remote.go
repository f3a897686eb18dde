package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/sim"
)

// RemoteTarget is a medbiz already running (medbiz serve), reached through
// its HTTP API and MQTT listener: devices are provisioned with the admin
// token, stored counts come from the series API, and RSS from /proc when
// the server's pid is given. It lets `medbiz bench` measure a real server
// before, or besides, the in-process target.
type RemoteTarget struct {
	base  string
	mqtt  string
	pid   int
	farm  string
	read  string
	prov  *sim.Provisioner
	hc    *http.Client
	mu    sync.Mutex
	next  int
	pats  []string
	cgSeq int
}

var _ Target = (*RemoteTarget)(nil)

// NewRemoteTarget creates a fresh farm for the run on the server at
// httpURL (admin token) whose MQTT TCP listener is mqttAddr (host:port).
func NewRemoteTarget(ctx context.Context, httpURL, adminToken, mqttAddr string, pid int) (*RemoteTarget, error) {
	r := &RemoteTarget{
		base: strings.TrimRight(httpURL, "/"), mqtt: strings.TrimPrefix(mqttAddr, "tcp://"), pid: pid,
		farm: fmt.Sprintf("bench%d", time.Now().Unix()),
		prov: &sim.Provisioner{BaseURL: httpURL, Token: adminToken},
		hc:   &http.Client{Timeout: 30 * time.Second},
	}
	if err := r.prov.CreateFarm(ctx, r.farm); err != nil {
		return nil, fmt.Errorf("remote target: %w", err)
	}
	tok, err := r.prov.CreateToken(ctx, r.farm)
	if err != nil {
		return nil, fmt.Errorf("remote target: %w", err)
	}
	r.read = tok
	return r, nil
}

func (r *RemoteTarget) Name() string     { return "medbiz" }
func (r *RemoteTarget) MQTTAddr() string { return r.mqtt }

// Provision creates n adult patients with one device each, a few at a
// time (the server hashes every password).
func (r *RemoteTarget) Provision(ctx context.Context, n int) ([]Creds, error) {
	out := make([]Creds, n)
	r.mu.Lock()
	first := r.next
	r.next += n
	r.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 4)
	)
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := fmt.Sprintf("p%06d", first+i+1)
			d := fmt.Sprintf("d%06d", first+i+1)
			err := r.prov.CreatePatient(ctx, r.farm, p, "adult", "")
			var l sim.Login
			if err == nil {
				l, err = r.prov.CreateDevice(ctx, r.farm, d, p, "other")
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if len(errs) < 5 {
					errs = append(errs, err)
				}
				return
			}
			out[i] = Creds{Farm: r.farm, Patient: p, Device: d, Username: l.Username, Password: l.Password}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("remote target: provision: %w", errors.Join(errs...))
	}
	r.mu.Lock()
	for _, c := range out {
		r.pats = append(r.pats, c.Patient)
	}
	r.mu.Unlock()
	return out, nil
}

// AlertProbe makes a caregiver of the pressing patients who watches
// farms/{farm}/alerts/+ for their "sos" alerts.
func (r *RemoteTarget) AlertProbe(ctx context.Context, presses []Creds) (AlertProbe, error) {
	pats := make([]string, len(presses))
	want := make(map[string]bool, len(presses))
	for i, c := range presses {
		pats[i] = c.Patient
		want[c.Patient] = true
	}
	r.mu.Lock()
	r.cgSeq++
	id := fmt.Sprintf("cg%03d", r.cgSeq)
	r.mu.Unlock()
	l, err := r.prov.CreateCaregiver(ctx, r.farm, id, pats)
	if err != nil {
		return AlertProbe{}, fmt.Errorf("remote target: %w", err)
	}
	return AlertProbe{
		Login:  Creds{Farm: r.farm, Device: id, Username: l.Username, Password: l.Password},
		Filter: "farms/" + r.farm + "/alerts/+",
		Match: func(_ string, payload []byte) (string, bool) {
			var a rules.Event
			if json.Unmarshal(payload, &a) != nil {
				return "", false
			}
			return a.Patient, want[a.Patient] && a.Rule == "sos" && (a.State == "" || a.State == rules.StateActive)
		},
	}, nil
}

// CountStored sums the stored heart-rate readings of every patient the
// target provisioned: each bench message carries exactly one.
func (r *RemoteTarget) CountStored(ctx context.Context) (int, error) {
	r.mu.Lock()
	pats := append([]string(nil), r.pats...)
	r.mu.Unlock()
	total := 0
	for _, p := range pats {
		q := url.Values{"metric": {"hr"}, "start": {"-48h"}, "stop": {"now"}, "every": {"72h"}, "fn": {"count"}}
		u := fmt.Sprintf("%s/api/v1/farms/%s/patients/%s/series?%s", r.base, r.farm, p, q.Encode())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, fmt.Errorf("count stored: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+r.read)
		resp, err := r.hc.Do(req)
		if err != nil {
			return 0, fmt.Errorf("count stored: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("count stored: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("count stored: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		var s struct {
			Points []struct{ V float64 } `json:"points"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			return 0, fmt.Errorf("count stored: decode: %w", err)
		}
		for _, pt := range s.Points {
			total += int(pt.V)
		}
	}
	return total, nil
}

// RSS reads the server's resident memory when its pid is known.
func (r *RemoteTarget) RSS() (int64, error) {
	if r.pid <= 0 {
		return 0, ErrUnsupported
	}
	return ProcRSS(r.pid)
}

// Close leaves the farm in place: its data is the bench's evidence.
func (r *RemoteTarget) Close(context.Context) error { return nil }

// Drain waits until every stream consumer of the server has nothing
// pending, read from medbiz_consumer_*pending_messages on /metrics.
func (r *RemoteTarget) Drain(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		lag, err := r.consumerLag(ctx)
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		if lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drain: %d messages still pending after %v", lag, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *RemoteTarget) consumerLag(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	lag, seen := 0, false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "medbiz_consumer_pending_messages{") && !strings.HasPrefix(line, "medbiz_consumer_ack_pending_messages{") {
			continue
		}
		seen = true
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			lag += int(v)
		}
	}
	if !seen {
		return 0, errors.New("the server exports no medbiz_consumer_pending_messages")
	}
	return lag, nil
}
