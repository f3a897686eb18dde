package ecg

import (
	"math"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// Metric names and units of what a Monitor emits. All carry Source "ecg".
const (
	MetricRR           = "ecg_rr"           // ms, one per beat from the second on, at the beat's time
	MetricIrregularity = "ecg_irregularity" // 0..1, every second once enough beats are seen
	MetricSQI          = "ecg_sqi"          // 0..1 every second, Text = reason
	MetricSinceBeat    = "ecg_since_beat"   // s since the last beat on usable signal, every second
	Source             = "ecg"
)

// IrregularThreshold is the ecg_irregularity from which the rhythm is
// irregular enough to suggest atrial fibrillation (see Irregularity). On
// the 22 MIT-BIH records here every 1-s value inside AF episodes is above
// it, and about 7 % of values outside AF, mostly in records with frequent
// ectopic beats: a screen to confirm over minutes, not a diagnosis.
const IrregularThreshold = 0.5

// MonitorOptions tunes a Monitor; the zero value gives the defaults.
type MonitorOptions struct {
	// Window of the quality index and period of hr, ecg_sqi,
	// ecg_since_beat and ecg_irregularity; 1 s when zero.
	Window time.Duration
	// HRBeats is how many recent RR intervals hr averages; 8 when zero.
	HRBeats int
	// IrregularityBeats is how many RR intervals ecg_irregularity looks
	// at; 32 when zero (30–60 is the usual range).
	IrregularityBeats int
	// Jitter is how far a frame's start may be from where the previous
	// frame ended, beyond one sample period, before it counts as a gap;
	// 20 ms when zero.
	Jitter time.Duration
}

// Monitor turns one device's ECG frames into measurements: it runs a
// Detector and an SQI, restarts both on gaps and on unusable signal, and
// reports RR intervals, heart rate, irregularity, quality and the time
// since the last beat. It is not safe for concurrent use.
type Monitor struct {
	fs   float64
	opts MonitorOptions
	det  *Detector
	sqi  *SQI

	// Timeline of the current segment (since the last Reset): sample
	// anchorIdx was at anchorTime; frames re-anchor so clock drift
	// within the jitter tolerance does not accumulate.
	started    bool
	anchorTime time.Time
	anchorIdx  int64
	next       time.Time // where the next frame should start
	segStart   time.Time // when the detector last restarted

	lastBeat     time.Time // wall time of the last beat ever seen
	lastBeatIdx  int64
	haveBeat     bool // a beat in this segment
	beatsInWin   int
	rr           []float64 // recent RR intervals, ms, newest last
	out          []telemetry.Measurement
	onBeat       func(Beat)
	onQuality    func(Quality)
	resetPending bool
	detBase      int64     // segment index of the detector's sample 0
	lastBad      time.Time // end of the last window with unusable signal
}

// NewMonitor returns a monitor for samples at fs Hz.
func NewMonitor(fs float64, opts MonitorOptions) *Monitor {
	if opts.Window <= 0 {
		opts.Window = time.Second
	}
	if opts.HRBeats <= 0 {
		opts.HRBeats = 8
	}
	if opts.IrregularityBeats <= 0 {
		opts.IrregularityBeats = 32
	}
	if opts.Jitter <= 0 {
		opts.Jitter = 20 * time.Millisecond
	}
	m := &Monitor{
		fs:   fs,
		opts: opts,
		det:  NewDetector(fs),
		sqi:  NewSQI(fs, opts.Window),
		rr:   make([]float64, 0, max(opts.HRBeats, opts.IrregularityBeats)+1),
	}
	m.onBeat = m.beat
	m.onQuality = m.quality
	return m
}

// LastBeat is the time of the last detected beat (zero before the first).
func (m *Monitor) LastBeat() time.Time { return m.lastBeat }

// timeOf is the wall time of sample idx of the current segment.
func (m *Monitor) timeOf(idx int64) time.Time {
	return m.anchorTime.Add(time.Duration(float64(idx-m.anchorIdx) / m.fs * float64(time.Second)))
}

// Process takes a frame whose first sample was at start and returns the
// measurements it completes, in time order per metric. Sample i of the
// frame is at start + i/fs.
func (m *Monitor) Process(start time.Time, samples []float32) []telemetry.Measurement {
	m.out = m.out[:0]
	period := time.Duration(float64(time.Second) / m.fs)
	tol := period + m.opts.Jitter
	if m.started {
		d := start.Sub(m.next)
		end := start.Add(time.Duration(float64(len(samples)) / m.fs * float64(time.Second)))
		switch {
		case d < -tol && !end.After(m.next.Add(tol)):
			// A frame from the past (a redelivery): already seen or
			// too late to use, and no reason to restart.
			return nil
		case d > tol || d < -tol:
			// A gap (or overlap): whatever happened in it is unknown, so
			// neither the beats nor the silence are carried across.
			m.restart(start)
		}
	} else {
		m.started = true
		m.restart(start)
	}
	m.anchorTime, m.anchorIdx = start, m.sqi.n
	m.next = start.Add(time.Duration(float64(len(samples)) / m.fs * float64(time.Second)))

	// Feed detector and quality window by window, so that a restart
	// decided at a window's end applies from exactly the next sample.
	w := m.sqi.Window()
	for len(samples) > 0 {
		k := min(len(samples), w-m.sqi.count)
		m.det.Process(samples[:k], m.onBeat)
		m.sqi.Process(samples[:k], m.onQuality)
		samples = samples[k:]
		if m.resetPending {
			m.resetPending = false
			m.restartDetector()
		}
	}
	out := make([]telemetry.Measurement, len(m.out))
	copy(out, m.out)
	return out
}

// restart begins a new segment at t: detector, quality and RR history.
func (m *Monitor) restart(t time.Time) {
	m.sqi.Reset()
	m.anchorTime, m.anchorIdx = t, 0
	m.det.Reset()
	m.detBase = 0
	m.segStart = t
	m.lastBad = time.Time{}
	m.haveBeat = false
	m.rr = m.rr[:0]
	m.beatsInWin = 0
}

// restartDetector restarts beat detection after an unusable window while
// keeping the segment's timeline; the silence while the signal was bad is
// not time without beats.
func (m *Monitor) restartDetector() {
	m.det.Reset()
	m.detBase = m.sqi.n
	m.segStart = m.timeOf(m.sqi.n)
	m.haveBeat = false
	m.rr = m.rr[:0]
}

// beat is the detector's callback.
func (m *Monitor) beat(b Beat) {
	idx := m.detBase + b.Index
	t := m.timeOf(idx)
	if m.haveBeat {
		ms := float64(idx-m.lastBeatIdx) / m.fs * 1000
		m.emit(t, MetricRR, ms, "")
		if ms >= 200 && ms <= 3000 {
			if len(m.rr) == cap(m.rr) {
				copy(m.rr, m.rr[1:])
				m.rr = m.rr[:len(m.rr)-1]
			}
			m.rr = append(m.rr, ms)
		}
	}
	m.haveBeat, m.lastBeatIdx, m.lastBeat = true, idx, t
	m.beatsInWin++
}

// quality is the SQI's callback at the end of each window: it emits the
// per-window metrics.
func (m *Monitor) quality(q Quality) {
	t := m.timeOf(q.End)
	// More than 4 beats a second (240 beat/min) is noise being counted.
	if m.beatsInWin > int(4*m.opts.Window.Seconds())+1 && q.Index >= goodThreshold {
		q.Index, q.Reason = min(q.Index, 0.4), ReasonNoise
	}
	m.beatsInWin = 0
	m.emit(t, MetricSQI, q.Index, q.Reason)

	// Time since the last beat counts only usable signal: a restart, a
	// gap or a bad window starts it again, so none of them looks like
	// asystole.
	ref := m.segStart
	if m.lastBad.After(ref) {
		ref = m.lastBad
	}
	if m.haveBeat && m.lastBeat.After(ref) {
		ref = m.lastBeat
	}
	since := max(0, t.Sub(ref).Seconds())
	m.emit(t, MetricSinceBeat, since, "")
	if q.Index < goodThreshold {
		m.lastBad = t
	}
	switch q.Reason {
	case ReasonLeadOff, ReasonSaturated, ReasonFlat, ReasonBaseline:
		// The front end lost the ECG; when it comes back its amplitude
		// need not be the one the thresholds were learnt on (after an
		// overload it often returns smaller and grows), and a detector
		// waiting 8 s to re-learn would report that as asystole.
		m.resetPending = true
	}

	if n := min(len(m.rr), m.opts.HRBeats); n >= 2 && m.haveBeat {
		mean := 0.0
		for _, v := range m.rr[len(m.rr)-n:] {
			mean += v
		}
		mean /= float64(n)
		// Only a current rate: not after the beats have stopped.
		if t.Sub(m.lastBeat).Seconds() <= max(3, 1.5*mean/1000) {
			m.emit(t, telemetry.HR, 60000/mean, "")
		}
	}
	if len(m.rr) >= m.opts.IrregularityBeats {
		m.emit(t, MetricIrregularity, Irregularity(m.rr[len(m.rr)-m.opts.IrregularityBeats:]), "")
	}
}

func (m *Monitor) emit(t time.Time, metric string, v float64, text string) {
	m.out = append(m.out, telemetry.Measurement{Time: t, Metric: metric, Value: v, Text: text, Source: Source})
}

// Irregularity maps RR intervals (ms) to 0..1, high meaning irregular as
// in atrial fibrillation. It is the normalised RMS of RR differences at
// lag 1, 2 and 3, each with its largest 20 % trimmed, taking the smallest
// lag: isolated ectopic beats are trimmed away and bigeminy or trigeminy
// (patterned, not random) are regular at lag 2 or 3, while AF is
// irregular at every lag. The result is divided by 0.2 and capped at 1,
// so IrregularThreshold (0.5) is a trimmed normalised RMSSD of 0.1.
func Irregularity(rr []float64) float64 {
	if len(rr) < 5 {
		return 0
	}
	mean := 0.0
	for _, v := range rr {
		mean += v
	}
	mean /= float64(len(rr))
	best := math.Inf(1)
	for lag := 1; lag <= 3; lag++ {
		var d [128]float64
		n := 0
		for i := lag; i < len(rr) && n < len(d); i++ {
			d[n] = math.Abs(rr[i] - rr[i-lag])
			n++
		}
		ds := d[:n]
		// Insertion sort: n is at most 128.
		for i := 1; i < len(ds); i++ {
			for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
				ds[j], ds[j-1] = ds[j-1], ds[j]
			}
		}
		keep := len(ds) - len(ds)/5
		ss := 0.0
		for _, v := range ds[:keep] {
			ss += v * v
		}
		best = math.Min(best, math.Sqrt(ss/float64(keep))/mean)
	}
	return math.Min(1, best/0.2)
}
