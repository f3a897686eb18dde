package sim

import (
	"container/heap"
	"fmt"
	"time"
)

// FleetConfig describes the people to simulate and what happens to them.
type FleetConfig struct {
	Seed     uint64
	Elderly  int
	Infants  int
	Start    time.Time // event time of the first message
	Duration time.Duration
	// ECG gives every elderly person an ECG patch (250 Hz frames: the
	// bulk of the traffic).
	ECG       bool
	Scenarios []ScenarioSpec
	// AllScenarios injects one of every scenario kind (after Scenarios).
	AllScenarios bool
}

// Fleet is the simulated population with its devices and scenarios. Next
// yields every device's messages merged in event-time order.
type Fleet struct {
	Start     time.Time
	End       time.Time
	People    []*Person
	Devices   []*Device
	Scenarios []*Scenario

	queue msgHeap
}

// PersonID names the i-th (from 1) person of a profile: e01…, i01….
func PersonID(p Profile, i int) string {
	if p == Infant {
		return fmt.Sprintf("i%02d", i)
	}
	return fmt.Sprintf("e%02d", i)
}

// NewFleet builds the people, resolves the scenarios against them and
// creates their devices. The same config always gives the same messages.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("fleet duration %s: must be positive", cfg.Duration)
	}
	if cfg.Elderly+cfg.Infants == 0 {
		return nil, fmt.Errorf("fleet: no people (elderly=0, infants=0)")
	}
	f := &Fleet{Start: cfg.Start, End: cfg.Start.Add(cfg.Duration)}
	byID := map[string]*Person{}
	for i := 1; i <= cfg.Elderly; i++ {
		f.People = append(f.People, NewPerson(cfg.Seed, PersonID(Elderly, i), Elderly))
	}
	for i := 1; i <= cfg.Infants; i++ {
		f.People = append(f.People, NewPerson(cfg.Seed, PersonID(Infant, i), Infant))
	}
	for _, p := range f.People {
		byID[p.ID] = p
	}
	specs := cfg.Scenarios
	var gap time.Duration
	if cfg.AllScenarios {
		all := AllScenarios(f.People, cfg.Duration)
		specs = append(append([]ScenarioSpec(nil), specs...), all...)
		if len(all) > 0 {
			gap = cfg.Duration / time.Duration(len(all)+1)
		}
	}
	for _, spec := range specs {
		p := byID[spec.Person]
		if p == nil {
			return nil, fmt.Errorf("scenario %s@%s: no such person (have e01..e%02d, i01..i%02d)", spec.Kind, spec.Person, cfg.Elderly, cfg.Infants)
		}
		if spec.Offset >= cfg.Duration {
			return nil, fmt.Errorf("scenario %s@%s@%s: onset after the end of the run (%s)", spec.Kind, spec.Person, spec.Offset, cfg.Duration)
		}
		// Keep a scenario from running into the next one when they are
		// packed tightly (--scenarios all on a short run).
		s, err := newScenario(spec, p, cfg.Start, gap*8/10)
		if err != nil {
			return nil, err
		}
		p.Scenarios = append(p.Scenarios, s)
		f.Scenarios = append(f.Scenarios, s)
	}
	for _, p := range f.People {
		for _, k := range KindsFor(p.Profile, cfg.ECG) {
			f.Devices = append(f.Devices, newDevice(p, k, cfg.Seed, cfg.Start, f.End))
		}
	}
	for _, d := range f.Devices {
		if m, ok := d.Next(); ok {
			f.queue = append(f.queue, m)
		}
	}
	heap.Init(&f.queue)
	return f, nil
}

// Next returns the next message of the whole fleet in event-time order, or
// false when the run's window is exhausted.
func (f *Fleet) Next() (Msg, bool) {
	if len(f.queue) == 0 {
		return Msg{}, false
	}
	m := f.queue[0]
	if n, ok := m.Device.Next(); ok {
		f.queue[0] = n
		heap.Fix(&f.queue, 0)
	} else {
		heap.Pop(&f.queue)
	}
	return m, true
}

// Person returns the person with the id, or nil.
func (f *Fleet) Person(id string) *Person {
	for _, p := range f.People {
		if p.ID == id {
			return p
		}
	}
	return nil
}

type msgHeap []Msg

func (h msgHeap) Len() int { return len(h) }
func (h msgHeap) Less(i, j int) bool {
	if h[i].At.Equal(h[j].At) {
		return h[i].Device.ID < h[j].Device.ID
	}
	return h[i].At.Before(h[j].At)
}
func (h msgHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *msgHeap) Push(x any)   { *h = append(*h, x.(Msg)) }
func (h *msgHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	*h = old[:len(old)-1]
	return m
}
