// Package rules owns medbiz's alerting logic: rule packs (YAML), their
// expression compiler, the built-in scores (partial NEWS2, infant PEWS
// bands) and the per-patient alert state machine.
//
// It is pure: it takes measurements, patient facts and a clock, and returns
// alert events. It must not import NATS, InfluxDB, MQTT or any network
// package, so every rule can be replayed from a golden file in milliseconds.
//
// medbiz is a monitoring aid, not a medical device. The thresholds in the
// shipped packs, with their sources and evidence, are in docs/clinical.md
// (each rule's source cites its section), and every one of them can be
// overridden per patient.
//
// # Design decisions
//
//   - Time: conditions run on event time (the measurement's timestamp). The
//     engine keeps a per-patient cursor, the latest event time seen;
//     measurements up to Options.Skew behind the cursor are inserted into the
//     windows in their right place, older ones are dropped. Deadman and
//     escalation use the injected wall clock (Tick). Tick also re-evaluates
//     every patient at a projected event time (cursor + wall time since the
//     last measurement) so that "fall and then nothing" alarms although no
//     further measurement arrives.
//   - Missing values: a latest value older than its freshness limit, or never
//     received, is NaN inside expressions. Every comparison with NaN is
//     false, windowed functions over an empty window return NaN (count
//     returns 0), and raise conditions (when, escalate.when) may not use
//     negation (!, not, !=, ??), which is the only way NaN could turn into
//     true. So a rule cannot alarm on absent data by accident; has(x) is the
//     explicit test.
//   - Parameters: a rule's params are identifiers in its expressions.
//     Per-patient overrides are looked up as "<rule id>.<param>" first, then
//     "<param>" (shared by every rule that has a param of that name), then
//     the rule's default.
//   - Concurrency: one engine mutex; evaluation is microseconds, and one
//     lock keeps Snapshot consistent.
//   - Restart: Snapshot/Restore serialise every patient's alert state and
//     windowed history as JSON, so a restored engine neither repeats an
//     active alert nor forgets to resolve it.
package rules
