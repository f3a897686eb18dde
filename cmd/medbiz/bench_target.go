package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/medbiz/medbiz/sim/bench"
)

func init() { newMedbizBenchTarget = startMedbizChild }

// childTarget is a medbiz serve started by the bench as its own process,
// with embedded NATS and InfluxDB in a temporary data dir, so its memory
// is measured apart from the load generator's.
type childTarget struct {
	*bench.RemoteTarget
	cmd  *exec.Cmd
	dir  string
	done chan error
}

// startMedbizChild runs this binary's serve on free loopback ports.
// Passwords are hashed with bcrypt cost 4 so provisioning thousands of
// devices stays quick; a real deployment's first connection costs one
// bcrypt at the configured cost (10: about 30 ms of a core).
func startMedbizChild(ctx context.Context, log *slog.Logger) (bench.Target, error) {
	dir, err := os.MkdirTemp("", "medbiz-bench-")
	if err != nil {
		return nil, err
	}
	ports := make([]string, 5)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(buf)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(),
		"MEDBIZ_DATA_DIR="+filepath.Join(dir, "data"),
		"MEDBIZ_MQTT_TCP_ADDR="+ports[0], "MEDBIZ_MQTT_WS_ADDR="+ports[1], "MEDBIZ_HTTP_ADDR="+ports[2],
		"MEDBIZ_NATS_EMBEDDED_ADDR="+ports[3], "MEDBIZ_INFLUX_EMBEDDED_ADDR="+ports[4],
		"MEDBIZ_REGISTRY_BCRYPT_COST=4", "MEDBIZ_ADMIN_TOKEN="+token, "MEDBIZ_LOG_LEVEL=warn",
	)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start medbiz serve: %w", err)
	}
	t := &childTarget{cmd: cmd, dir: dir, done: make(chan error, 1)}
	go func() { t.done <- cmd.Wait(); logFile.Close() }()
	httpURL := "http://" + ports[2]
	began := time.Now()
	if err := waitReady(ctx, httpURL, t.done); err != nil {
		_ = t.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("medbiz serve (log in %s): %w", dir, err)
	}
	log.Info("medbiz serve ready", "pid", cmd.Process.Pid, "after", time.Since(began).Round(time.Millisecond), "dir", dir)
	rt, err := bench.NewRemoteTarget(ctx, httpURL, token, ports[0], cmd.Process.Pid)
	if err != nil {
		_ = t.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	t.RemoteTarget = rt
	return t, nil
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("not ready after 60 s")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Close stops the child with SIGTERM (as an operator would) and removes
// its data.
func (t *childTarget) Close(ctx context.Context) error {
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-t.done:
	case <-time.After(30 * time.Second):
		_ = t.cmd.Process.Kill()
		err = errors.Join(errors.New("medbiz serve did not stop within 30 s"), <-t.done)
	case <-ctx.Done():
		_ = t.cmd.Process.Kill()
		<-t.done
		err = ctx.Err()
	}
	if rerr := os.RemoveAll(t.dir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}
