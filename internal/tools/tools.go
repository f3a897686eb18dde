//go:build tools

// Package tools pins the modules medbiz builds on until the code that
// imports them lands, so `go mod tidy` keeps their versions.
package tools

import (
	_ "github.com/danielgtaylor/huma/v2"
	_ "github.com/eclipse/paho.golang/paho"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/expr-lang/expr"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/influxdata/influxdb-client-go/v2"
	_ "github.com/influxdata/influxdb/cmd/influxd/run"
	_ "github.com/mochi-mqtt/server/v2"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats-server/v2/test"
	_ "github.com/nats-io/nats.go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "golang.org/x/crypto/bcrypt"
	_ "gopkg.in/yaml.v3"
)
