package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// DeviceKind names a kind of device as the provisioning API records it.
type DeviceKind string

const (
	PulseOximeter    DeviceKind = "pulse_oximeter"
	BPMonitor        DeviceKind = "bp_monitor"
	Thermometer      DeviceKind = "thermometer"
	GlucoseMeter     DeviceKind = "glucose_meter"
	ECGPatch         DeviceKind = "ecg_patch"
	MotionSensor     DeviceKind = "motion_sensor"
	SOSButton        DeviceKind = "sos_button"
	BreathingMonitor DeviceKind = "breathing_monitor"
)

// KindsFor lists the devices a person of the profile has at home.
func KindsFor(p Profile, ecg bool) []DeviceKind {
	if p == Infant {
		return []DeviceKind{PulseOximeter, Thermometer, BreathingMonitor}
	}
	k := []DeviceKind{PulseOximeter, BPMonitor, Thermometer, GlucoseMeter, MotionSensor, SOSButton}
	if ecg {
		k = append(k, ECGPatch)
	}
	return k
}

// Action is what the runner does with a message.
type Action int

const (
	// Publish sends Payload on the device's telemetry topic.
	Publish Action = iota
	// Disconnect drops the device's network connection without an MQTT
	// DISCONNECT, so the broker publishes its will.
	Disconnect
)

// Msg is one thing a device does at one event time.
type Msg struct {
	At      time.Time
	Device  *Device
	Action  Action
	Payload []byte
	// Scenario is set when this message carries an injected scenario's
	// signal; alert latency is measured from such messages.
	Scenario *Scenario
}

// Device is one simulated device of one person.
type Device struct {
	ID     string
	Kind   DeviceKind
	Person *Person

	gen     generator
	end     time.Time
	offline *Scenario // device_offline scenario for this device, if any
	done    bool
}

type generator interface {
	// next returns the following message at or after the previous one.
	next() (Msg, bool)
}

// Next returns the device's next message before the end of the run.
func (d *Device) Next() (Msg, bool) {
	if d.done {
		return Msg{}, false
	}
	m, ok := d.gen.next()
	if d.offline != nil && (!ok || !m.At.Before(d.offline.Onset)) && d.offline.Onset.Before(d.end) {
		d.done = true
		return Msg{At: d.offline.Onset, Device: d, Action: Disconnect, Scenario: d.offline}, true
	}
	if !ok || !m.At.Before(d.end) {
		d.done = true
		return Msg{}, false
	}
	m.Device = d
	if m.Scenario == nil {
		m.Scenario = d.scenarioAt(m.At)
	}
	return m, true
}

// scenarioAt is the scenario whose signal this device carries at t.
func (d *Device) scenarioAt(t time.Time) *Scenario {
	for _, s := range d.Person.Scenarios {
		if s.Active(t) && s.Affects(d.Kind) {
			return s
		}
	}
	return nil
}

func newDevice(p *Person, kind DeviceKind, seed uint64, start, end time.Time) *Device {
	d := &Device{ID: p.ID + "-" + string(kind), Kind: kind, Person: p, end: end}
	s := hashString(seed, d.ID)
	r := rand.New(rand.NewPCG(s, s>>3|1))
	for _, sc := range p.Scenarios {
		if sc.Kind == "device_offline" && sc.Affects(kind) {
			d.offline = sc
		}
	}
	switch kind {
	case PulseOximeter:
		d.gen = &oximeter{d: d, r: r, t: start.Add(-time.Second)}
	case BPMonitor:
		d.gen = newSparse(d, r, start, []float64{7.5, 12.5, 19}, func(v Vitals, r *rand.Rand, normal bool) []byte {
			sys, dia, hr := v.Sys+r.NormFloat64()*3, v.Dia+r.NormFloat64()*2, v.HR+r.NormFloat64()*1.5
			if normal {
				sys, dia, hr = p.clampNormal("sys", sys), p.clampNormal("dia", dia), p.clampNormal("hr", hr)
			}
			return intsPayload(nil, "sys", sys, "dia", dia, "hr", hr)
		})
	case Thermometer:
		hours := []float64{8, 14, 20}
		if p.Profile == Infant {
			hours = []float64{7, 12, 18}
		}
		d.gen = newSparse(d, r, start, hours, func(v Vitals, r *rand.Rand, normal bool) []byte {
			t := v.Temp + r.NormFloat64()*0.08
			if normal {
				t = p.clampNormal("temp", t)
			}
			return strconv.AppendFloat([]byte(`,"temp":`), t, 'f', 1, 64)
		})
	case GlucoseMeter:
		d.gen = newSparse(d, r, start, []float64{7, 12.25, 18.25}, func(v Vitals, r *rand.Rand, normal bool) []byte {
			g := v.Glucose + r.NormFloat64()*4
			if normal {
				g = p.clampNormal("glucose", g)
			}
			return intsPayload(nil, "glucose", g)
		})
	case ECGPatch:
		d.gen = newECG(d, r, start)
	case MotionSensor:
		d.gen = newEvents(d, r, start, true)
	case SOSButton:
		d.gen = newEvents(d, r, start, false)
	case BreathingMonitor:
		d.gen = &breathing{d: d, r: r, t: start.Add(-breathEvery), apnea: eventTimes(p, BreathingMonitor)}
	}
	return d
}

// intsPayload appends ,"name":value pairs rounded to integers.
func intsPayload(b []byte, kv ...any) []byte {
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, ',', '"')
		b = append(b, kv[i].(string)...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, int64(math.Round(kv[i+1].(float64))), 10)
	}
	return b
}

// flat wraps metric pairs (starting with a comma) into a flat payload.
func flat(t time.Time, fields []byte) []byte {
	b := make([]byte, 0, len(fields)+24)
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, fields...)
	return append(b, '}')
}

func eventPayload(t time.Time, kind string) []byte {
	return flat(t, append(append([]byte(`,"event":"`), kind...), '"'))
}

// oximeter publishes hr and spo2 every second (and, for the elderly, a
// respiration rate from the pleth signal every 30 s).
type oximeter struct {
	d        *Device
	r        *rand.Rand
	t        time.Time
	n        int
	dipLeft  int
	dipLevel float64
}

func (o *oximeter) next() (Msg, bool) {
	o.t = o.t.Add(time.Second)
	o.n++
	p := o.d.Person
	v := p.State(o.t)
	sc := o.d.scenarioAt(o.t)
	hr := v.HR + o.r.NormFloat64()*1.2
	spo2 := v.SpO2 + o.r.NormFloat64()*0.5
	rr := v.RR + o.r.NormFloat64()
	if sc == nil {
		hr, spo2, rr = p.clampNormal("hr", hr), p.clampNormal("spo2", spo2), p.clampNormal("rr", rr)
		// Healthy infants have brief desaturations (Hunt 1999); keep them
		// under 5 s so they never look like a sustained desaturation.
		if p.Profile == Infant {
			if o.dipLeft == 0 && o.r.Float64() < 1.0/3600 {
				o.dipLeft = 2 + o.r.IntN(3)
				o.dipLevel = 88 + o.r.Float64()*5
			}
			if o.dipLeft > 0 {
				o.dipLeft--
				spo2 = math.Min(spo2, o.dipLevel)
			}
		}
	}
	spo2 = math.Min(spo2, 100)
	fields := intsPayload(nil, "hr", hr, "spo2", spo2)
	if p.Profile == Elderly && o.n%30 == 0 {
		fields = intsPayload(fields, "rr", rr)
	}
	return Msg{At: o.t, Payload: flat(o.t, fields)}, true
}

// breathEvery is the breathing monitor's reporting interval: short enough
// that a 20-s pause spans ten readings.
const breathEvery = 2 * time.Second

// breathing is the infant breathing monitor: rr every 2 s, 0 while not
// breathing, and an apnea event once a pause reaches 20 s.
type breathing struct {
	d     *Device
	r     *rand.Rand
	t     time.Time
	apnea []timedEvent
}

func (b *breathing) next() (Msg, bool) {
	nt := b.t.Add(breathEvery)
	if len(b.apnea) > 0 && !b.apnea[0].at.After(nt) {
		e := b.apnea[0]
		b.apnea = b.apnea[1:]
		return Msg{At: e.at, Payload: eventPayload(e.at, e.kind)}, true
	}
	b.t = nt
	p := b.d.Person
	v := p.State(b.t)
	rr := v.RR + b.r.NormFloat64()*1.5
	if b.d.scenarioAt(b.t) == nil {
		rr = p.clampNormal("rr", rr)
	} else if v.RR == 0 {
		rr = 0
	}
	return Msg{At: b.t, Payload: flat(b.t, intsPayload(nil, "rr", rr))}, true
}

// sparse is a device used a few times a day at habitual hours (with a
// daily jitter), plus the re-measurements a scenario asks for.
type sparse struct {
	d      *Device
	r      *rand.Rand
	last   time.Time
	hours  []float64
	forced []time.Time
	read   func(v Vitals, r *rand.Rand, normal bool) []byte
}

func newSparse(d *Device, r *rand.Rand, start time.Time, hours []float64, read func(Vitals, *rand.Rand, bool) []byte) *sparse {
	s := &sparse{d: d, r: r, last: start.Add(-time.Nanosecond), hours: hours, read: read}
	for _, sc := range d.Person.Scenarios {
		s.forced = append(s.forced, sc.forcedTimes(d.Kind)...)
	}
	slices.SortFunc(s.forced, func(a, b time.Time) int { return a.Compare(b) })
	return s
}

func (s *sparse) nextScheduled() time.Time {
	day := s.last.UTC().Truncate(24 * time.Hour)
	for d := 0; d < 3; d++ {
		base := day.Add(time.Duration(d) * 24 * time.Hour)
		for i, h := range s.hours {
			jitter := unit(s.d.Person.seed^uint64(len(s.d.Kind)), base.Unix()/86400*16+int64(i)) * 20
			t := base.Add(time.Duration((h*60 + jitter) * float64(time.Minute))).Truncate(time.Second)
			if t.After(s.last) {
				return t
			}
		}
	}
	return s.last.Add(24 * time.Hour)
}

func (s *sparse) next() (Msg, bool) {
	t := s.nextScheduled()
	for len(s.forced) > 0 && !s.forced[0].After(s.last) {
		s.forced = s.forced[1:]
	}
	if len(s.forced) > 0 && s.forced[0].Before(t) {
		t = s.forced[0]
		s.forced = s.forced[1:]
	}
	s.last = t
	v := s.d.Person.State(t)
	return Msg{At: t, Payload: flat(t, s.read(v, s.r, s.d.scenarioAt(t) == nil))}, true
}

type timedEvent struct {
	at   time.Time
	kind string
}

// eventTimes are the scenario-driven events a device of kind k emits.
func eventTimes(p *Person, k DeviceKind) []timedEvent {
	var out []timedEvent
	for _, sc := range p.Scenarios {
		switch {
		case sc.Kind == "fall" && k == MotionSensor:
			out = append(out, timedEvent{sc.Onset, "fall"}, timedEvent{sc.Onset.Add(2 * time.Minute), "no_motion"})
		case sc.Kind == "sos" && k == SOSButton:
			out = append(out, timedEvent{sc.Onset, "sos"})
		case sc.Kind == "apnea" && k == BreathingMonitor:
			out = append(out, timedEvent{sc.Onset.Add(20 * time.Second), "apnea"})
		}
	}
	slices.SortFunc(out, func(a, b timedEvent) int { return a.at.Compare(b.at) })
	return out
}

// events is the motion sensor (motion while the person moves about; a
// fall, then silence, in a fall scenario) or the SOS button (scenario
// presses only).
type events struct {
	d      *Device
	r      *rand.Rand
	t      time.Time
	random bool
	forced []timedEvent
}

func newEvents(d *Device, r *rand.Rand, start time.Time, random bool) *events {
	return &events{d: d, r: r, t: start, random: random, forced: eventTimes(d.Person, d.Kind)}
}

func (e *events) next() (Msg, bool) {
	for i := 0; i < 10000; i++ {
		nt := e.d.end
		if e.random {
			v := e.d.Person.Normal(e.t)
			mean := 6 * time.Minute
			if v.Asleep {
				mean = 90 * time.Minute
			}
			nt = e.t.Add(time.Duration(e.r.ExpFloat64() * float64(mean))).Truncate(time.Millisecond)
		}
		if len(e.forced) > 0 && !e.forced[0].at.After(nt) {
			f := e.forced[0]
			e.forced = e.forced[1:]
			e.t = f.at
			return Msg{At: f.at, Payload: eventPayload(f.at, f.kind)}, true
		}
		if !e.random || !nt.Before(e.d.end) {
			return Msg{}, false
		}
		e.t = nt
		if e.d.Person.State(nt).Moving {
			return Msg{At: nt, Payload: eventPayload(nt, "motion")}, true
		}
	}
	return Msg{}, false
}
