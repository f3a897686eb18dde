// Package ecg detects QRS complexes in a single-lead ECG stream, rates the
// signal's quality and turns both into measurements for the ECG processor.
// It is pure: no I/O, no NATS, no clock; callers pass samples and times.
// It imports telemetry for the Measurement type and its own wfdb and ec57
// subpackages for the record tools; it must not import bus, storage or
// anything that does I/O.
//
// # Detector
//
// NewDetector(fs) works at any rate from 100 to 1000 Hz; all tuning is in
// seconds and millivolts, and the filter delays are measured at start-up
// on a synthetic QRS rather than tabulated. The method is Pan–Tompkins as
// refined by Hamilton–Tompkins (OSEA): 5–15 Hz band-pass (2nd-order
// Butterworth high-pass, 4th-order low-pass), 10 ms derivative,
// rectification, 80 ms moving-window integration, peak picking, one QRS
// per 250 ms (so at most 240 beat/min), thresholds at 31 % between the
// mean of the last eight noise peaks and of the last eight QRS peaks,
// search-back at 150 % of the mean RR for the largest peak above half the
// threshold, a 200 ms refractory period, a T-wave test (a candidate within
// 360 ms of a beat needs half the beat's slope) and a slope-pair test that
// rejects baseline steps. The R peak is placed on the largest band-passed
// deflection and refined on a 0.5–40 Hz signal.
//
// It learns for 2 s after a start or Reset (beats of those seconds are
// emitted at the end of learning; while the last 2 s hold nothing
// QRS-like it slides on a second at a time) and re-learns its thresholds
// after 8 s without a beat, but only from seconds whose integrator peaks
// stand out from its mean: noise on a flat line (asystole) is never
// learnt as QRS.
// After a Reset the filters start in the steady state of the first
// sample, so restarting on a signal away from zero does not make a
// start-up transient that learning would take for a QRS.
//
// A beat is emitted at most MaxDelay (3.4 s) after its R peak: beats found
// by search-back wait for 150 % of the mean RR, capped at 2 s. Typical
// delay is about 0.4 s (hold period plus integration). Work per sample is
// bounded and allocation-free.
//
// # Quality
//
// SQI rates 1 s windows 0..1 with a reason: lead_off (the signal stays
// constant, as at a rail), saturated (10 % or more of the window stuck at
// its extreme), flat (under 20 µV peak-to-peak), noise (high-frequency RMS
// above 40 Hz from 30 µV absolute or 2 % of the window's range, reaching 0
// at 120 µV or 10 %; swings over 8 mV; more than 4 beats a second),
// baseline (the window's trend slides 0.5 mV or more while its 5 Hz
// high-passed peak-to-peak stays under 0.15 mV and under a fifth of the
// slide, or slides on 0.2 mV the same way after such a window: an
// amplifier recovering from overload, which carries no ECG and would
// otherwise read as asystole; MIT-BIH 116 at 1355 s, 208 at 1384 s).
//
// # Monitor
//
// Monitor combines both for one device and emits, all with Source "ecg":
//
//	ecg_rr            ms        each beat from the second on, at the beat's time
//	hr                beat/min  every window while beats come, mean of the last 8 RR
//	ecg_irregularity  0..1      every window once 32 RR are seen (≥ 0.5: AF-like, see Irregularity)
//	ecg_sqi           0..1      every window, Text = reason
//	ecg_since_beat    s         every window: time since the last beat on usable signal
//
// A frame whose start is not where the previous one ended (one sample
// period plus 20 ms jitter) restarts the segment: no RR spans the gap and
// the time since the last beat counts from the restart. Unusable windows
// (lead_off, saturated, flat, baseline) restart the detector, since the
// amplitude after them need not match the thresholds learnt before, and
// every window under 0.5 restarts ecg_since_beat too, so "ecg_since_beat
// >= 4 && ecg_sqi >= 0.5" means four seconds without a beat on a good
// signal.
package ecg
