// Package sim owns medbiz's device-fleet simulator: physiological models of
// elderly people living alone and infants, the devices that measure them,
// scenario injection (shock, apnea, a fall, a device going offline, …),
// provisioning through the HTTP API, publishing over MQTT in real time or as
// a fast replay of a past period, and verification of the alerts that come
// back. The models are pure (seeded RNG, event time passed in) so tests can
// check a simulated day without a clock or a broker.
//
// It talks to medbiz only through the external contract (HTTP, MQTT); it
// must not import the server's packages. The MQTT client used across the
// project's tools is github.com/eclipse/paho.mqtt.golang (v1.5.1).
package sim
