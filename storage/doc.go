// Package storage owns medbiz's InfluxDB side: the embedded InfluxDB 1.8
// engine, the client that provisions one bucket per Farm (a 1.x database
// farm_<id> or a 2.x bucket plus DBRP mapping), writes points through
// influxdb-client-go/v2 and reads them back with InfluxQL and bound
// parameters. It imports telemetry for metric names only and nothing from
// broker, processors or api.
package storage
