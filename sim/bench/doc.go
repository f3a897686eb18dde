// Package bench is the load generator behind `medbiz bench`: ingest rate at
// QoS 0 and 1, alert latency under a background load, and the cost of idle
// connections, measured against a Target. It ships the baseline target (a
// plain mochi broker with an allow-all auth hook); the medbiz target, an
// in-process medbiz app, implements the same interface elsewhere.
//
// It talks to targets over MQTT only (paho.mqtt.golang, and a minimal raw
// CONNECT for idle connections so the client side costs next to nothing in
// the RSS measurement); it must not import the server's packages.
package bench
