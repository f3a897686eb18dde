package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// raceEnabled is set by race_test.go under -race.
var raceEnabled bool

// buildMedbiz builds this command into a temporary folder, as `go install`
// would, and returns the binary's path.
func buildMedbiz(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build medbiz: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "medbiz")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// hermeticEnv is the environment without MEDBIZ_ variables (a developer's
// MEDBIZ_CONFIG must not leak in), plus extra.
func hermeticEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEDBIZ_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var readyLine = regexp.MustCompile(`msg="medbiz ready" .*\bhttp=(\S+)`)

// TestServeFromAnEmptyFolder runs the built binary the way a user who ran
// `go install` does: `medbiz serve` in an empty folder, no config file, no
// source tree. Only the listeners are moved to free ports. It must reach
// /readyz 200 on the rule packs built into it, keep its data under ./data
// of that folder, and exit 0 on SIGTERM.
func TestServeFromAnEmptyFolder(t *testing.T) {
	bin := buildMedbiz(t)
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = hermeticEnv(
		"MEDBIZ_MQTT_TCP_ADDR=127.0.0.1:0", "MEDBIZ_MQTT_WS_ADDR=127.0.0.1:0", "MEDBIZ_HTTP_ADDR=127.0.0.1:0",
		"MEDBIZ_NATS_EMBEDDED_ADDR=127.0.0.1:0", "MEDBIZ_INFLUX_EMBEDDED_ADDR=127.0.0.1:0",
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("medbiz serve output:\n%s", logs())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var addr string
	for addr == "" {
		if m := readyLine.FindStringSubmatch(logs()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("medbiz serve exited before it was ready: %v", err)
		case <-ctx.Done():
			t.Fatal("medbiz serve logged no ready line within 2 minutes")
		case <-time.After(50 * time.Millisecond):
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz: %s, want 200", resp.Status)
	}
	if out := logs(); !strings.Contains(out, "packs=[builtin]") {
		t.Errorf("the rule engine did not run on the built-in packs alone")
	}
	for _, p := range []string{"data/admin.token", "data/nats", "data/influx"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("nothing at ./%s of the working folder: %v", p, err)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("medbiz serve after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("medbiz serve still running a minute after SIGTERM")
	}
}
