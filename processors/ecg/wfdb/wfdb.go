// Package wfdb reads the parts of the PhysioNet WFDB formats that the ECG
// tools need: record headers (.hea), format-212 signal files and MIT-format
// annotation files (.atr). It only reads local files and imports nothing
// from the rest of medbiz.
package wfdb

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Signal describes one signal line of a header.
type Signal struct {
	File        string
	Format      int
	Gain        float64 // ADC units per physical unit; 200 when the header omits it
	Baseline    int     // ADC value of 0 physical units
	Units       string  // physical units, "mV" when omitted
	ADCRes      int
	ADCZero     int
	InitVal     int
	Checksum    int // 16-bit sum of the samples as written in the header
	BlockSize   int
	Description string
}

// Header is a parsed single-segment record header.
type Header struct {
	Record   string
	FS       float64
	NSamples int64
	Signals  []Signal
	Comments []string
	// Dir is the folder the header was read from; signal files are
	// relative to it.
	Dir string
}

// ReadHeader parses a .hea file.
func ReadHeader(path string) (*Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open header: %w", err)
	}
	defer f.Close()
	h, err := ParseHeader(f)
	if err != nil {
		return nil, fmt.Errorf("parse header %s: %w", path, err)
	}
	h.Dir = filepath.Dir(path)
	return h, nil
}

// ParseHeader parses header text. Multi-segment records are not supported
// because the MIT-BIH records this serves are single-segment.
func ParseHeader(r io.Reader) (*Header, error) {
	sc := bufio.NewScanner(r)
	h := &Header{}
	nsig := -1
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			h.Comments = append(h.Comments, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			continue
		}
		fields := strings.Fields(line)
		if nsig < 0 {
			if err := h.parseRecordLine(fields); err != nil {
				return nil, err
			}
			nsig = len(h.Signals)
			h.Signals = h.Signals[:0]
			continue
		}
		if len(h.Signals) == cap(h.Signals) {
			// Lines after the signal lines that are not comments: ignore,
			// as WFDB does for info strings.
			continue
		}
		s, err := parseSignalLine(fields)
		if err != nil {
			return nil, fmt.Errorf("signal %d: %w", len(h.Signals), err)
		}
		h.Signals = append(h.Signals, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if nsig < 0 {
		return nil, fmt.Errorf("no record line")
	}
	if len(h.Signals) != nsig {
		return nil, fmt.Errorf("record line announces %d signals, found %d", nsig, len(h.Signals))
	}
	return h, nil
}

func (h *Header) parseRecordLine(f []string) error {
	if len(f) < 2 {
		return fmt.Errorf("record line %q: too few fields", strings.Join(f, " "))
	}
	name := f[0]
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return fmt.Errorf("record %s: multi-segment records are not supported", name)
	}
	h.Record = name
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 4096 {
		return fmt.Errorf("record line: bad signal count %q", f[1])
	}
	h.FS = 250 // WFDB default
	if len(f) > 2 {
		fsField := f[2]
		// "360/360" (counter frequency) and "360(0)" (base counter) forms.
		if i := strings.IndexAny(fsField, "/("); i >= 0 {
			fsField = fsField[:i]
		}
		h.FS, err = strconv.ParseFloat(fsField, 64)
		if err != nil || h.FS <= 0 {
			return fmt.Errorf("record line: bad sampling frequency %q", f[2])
		}
	}
	if len(f) > 3 {
		h.NSamples, err = strconv.ParseInt(f[3], 10, 64)
		if err != nil || h.NSamples < 0 {
			return fmt.Errorf("record line: bad sample count %q", f[3])
		}
	}
	h.Signals = make([]Signal, n)
	return nil
}

func parseSignalLine(f []string) (Signal, error) {
	s := Signal{Gain: 200, Units: "mV", ADCRes: 12}
	if len(f) < 2 {
		return s, fmt.Errorf("too few fields in %q", strings.Join(f, " "))
	}
	s.File = f[0]
	format := f[1]
	// Format may carry "x" (samples per frame), ":" (skew) or "+" (offset).
	if i := strings.IndexAny(format, "x:+"); i >= 0 {
		if format[i] == 'x' && !strings.HasPrefix(format[i:], "x1") {
			return s, fmt.Errorf("format %q: multiple samples per frame not supported", format)
		}
		format = format[:i]
	}
	var err error
	if s.Format, err = strconv.Atoi(format); err != nil {
		return s, fmt.Errorf("bad format %q", f[1])
	}
	baselineSet := false
	if len(f) > 2 {
		g := f[2]
		if i := strings.IndexByte(g, '/'); i >= 0 {
			s.Units = g[i+1:]
			g = g[:i]
		}
		if i := strings.IndexByte(g, '('); i >= 0 {
			j := strings.IndexByte(g, ')')
			if j < i {
				return s, fmt.Errorf("bad gain %q", f[2])
			}
			if s.Baseline, err = strconv.Atoi(g[i+1 : j]); err != nil {
				return s, fmt.Errorf("bad baseline in %q", f[2])
			}
			baselineSet = true
			g = g[:i]
		}
		if s.Gain, err = strconv.ParseFloat(g, 64); err != nil {
			return s, fmt.Errorf("bad gain %q", f[2])
		}
		if s.Gain == 0 {
			s.Gain = 200 // WFDB: 0 means uncalibrated, use the default
		}
	}
	ints := []*int{&s.ADCRes, &s.ADCZero, &s.InitVal, &s.Checksum, &s.BlockSize}
	for i, p := range ints {
		if len(f) <= 3+i {
			break
		}
		if *p, err = strconv.Atoi(f[3+i]); err != nil {
			return s, fmt.Errorf("bad field %d %q", 3+i, f[3+i])
		}
	}
	if !baselineSet {
		s.Baseline = s.ADCZero
	}
	if len(f) > 8 {
		s.Description = strings.Join(f[8:], " ")
	}
	return s, nil
}

// ReadSignals reads every signal of the record in ADC units, one slice per
// signal. All signals must be in one format-212 file, as in MIT-BIH.
func (h *Header) ReadSignals() ([][]int16, error) {
	if len(h.Signals) == 0 {
		return nil, fmt.Errorf("record %s has no signals", h.Record)
	}
	file := h.Signals[0].File
	for i, s := range h.Signals {
		if s.Format != 212 {
			return nil, fmt.Errorf("record %s signal %d: format %d not supported (only 212)", h.Record, i, s.Format)
		}
		if s.File != file {
			return nil, fmt.Errorf("record %s: signals in several files not supported", h.Record)
		}
	}
	data, err := os.ReadFile(filepath.Join(h.Dir, file))
	if err != nil {
		return nil, fmt.Errorf("read signal file: %w", err)
	}
	return Decode212(data, len(h.Signals), h.NSamples)
}

// Decode212 decodes format-212 bytes holding nsig interleaved signals.
// When n > 0, at most n samples per signal are returned; a trailing
// partial frame is dropped.
func Decode212(data []byte, nsig int, n int64) ([][]int16, error) {
	if nsig <= 0 {
		return nil, fmt.Errorf("decode 212: %d signals", nsig)
	}
	total := int64(len(data)/3) * 2 // complete sample pairs
	if len(data)%3 == 2 {
		total++ // two bytes still hold one sample
	}
	frames := total / int64(nsig)
	if n > 0 && n < frames {
		frames = n
	} else if n > frames {
		return nil, fmt.Errorf("decode 212: header announces %d samples, file holds %d", n, frames)
	}
	out := make([][]int16, nsig)
	for i := range out {
		out[i] = make([]int16, frames)
	}
	var k int64 // sample number across signals
	want := frames * int64(nsig)
	for p := 0; k < want; p += 3 {
		b0, b1 := int(data[p]), int(data[p+1])
		s0 := b0 | (b1&0x0F)<<8
		out[k%int64(nsig)][k/int64(nsig)] = sext12(s0)
		k++
		if k == want {
			break
		}
		b2 := int(data[p+2])
		s1 := b2 | (b1&0xF0)<<4
		out[k%int64(nsig)][k/int64(nsig)] = sext12(s1)
		k++
	}
	return out, nil
}

func sext12(v int) int16 {
	if v&0x800 != 0 {
		v -= 0x1000
	}
	return int16(v)
}

// Checksum is the 16-bit sum of the samples that WFDB writes in the
// header, as a signed value.
func Checksum(x []int16) int {
	var s int16
	for _, v := range x {
		s += v
	}
	return int(s)
}

// ChecksumMatches reports whether the samples sum to the header's
// checksum modulo 2^16; headers write it signed or unsigned.
func ChecksumMatches(x []int16, header int) bool {
	return uint16(Checksum(x)) == uint16(header)
}

// Physical converts ADC units of signal i to its physical unit (mV).
func (h *Header) Physical(i int, adc []int16) []float32 {
	s := h.Signals[i]
	out := make([]float32, len(adc))
	for j, v := range adc {
		out[j] = float32(float64(int(v)-s.Baseline) / s.Gain)
	}
	return out
}
