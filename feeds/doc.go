// Package feeds owns medbiz's public context feeds: the Source interface a
// public-data adapter implements (weather, air quality per region), the
// Reading it returns, and the Poller that runs sources on an interval for
// their regions, backs off on errors, honours rate-limit replies
// (Retry-After), drops repeated and impossible readings, and keeps each
// source's health for /metrics (Collector).
//
// The adapters live in subpackages: feeds/kma (Korea Meteorological
// Administration ultra-short-term observations → air temperature, humidity,
// NOAA heat index, KMA apparent temperature) and feeds/airkorea (AirKorea
// station measurements → PM2.5, PM10, O3, US EPA AQI, Korea's CAI);
// feeds/portal holds what both share: the public-data portal's answer
// envelope and error forms.
//
// The package talks HTTP through the adapters and hands readings to a Sink;
// it must not import NATS, InfluxDB, the registry or the rule engine: the
// app wires the Sink to the bus, and the rule engine reads context from
// there. The thresholds and formulas are explained in docs/context.md.
package feeds
