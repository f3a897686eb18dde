package wfdb

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Annotation codes with a meaning the ECG tools use (WFDB ecgcodes.h).
const (
	Normal   = 1  // N
	PVC      = 5  // V
	Noise    = 14 // ~ signal quality change
	Rhythm   = 28 // + rhythm change, aux text such as "(VFL"
	VFOn     = 32 // [ ventricular flutter/fibrillation onset
	VFOff    = 33 // ] ventricular flutter/fibrillation end
	codeSkip = 59
	codeNum  = 60
	codeSub  = 61
	codeChn  = 62
	codeAux  = 63
)

// Annotation is one decoded MIT-format annotation.
type Annotation struct {
	Sample int64 // sample index from the record start
	Code   int   // 1..49 (ecgcodes.h)
	Sub    int
	Chan   int
	Num    int
	Aux    string
}

// IsBeat reports whether an annotation code labels a QRS complex, per the
// EC57 list (docs/clinical.md#scoring-a-detector): N L R a V F J A S E j
// / Q B ? ! e n f r.
func IsBeat(code int) bool {
	switch {
	case code >= 1 && code <= 13:
		return true
	}
	switch code {
	case 25, 30, 31, 34, 35, 38, 41:
		return true
	}
	return false
}

// ReadAnnotations reads an MIT-format annotation file.
func ReadAnnotations(path string) ([]Annotation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	a, err := DecodeAnnotations(data)
	if err != nil {
		return nil, fmt.Errorf("decode annotations %s: %w", path, err)
	}
	return a, nil
}

// DecodeAnnotations decodes MIT-format annotation bytes. NUM, SUB and CHN
// persist for the annotations that follow, as in WFDB; SUB and AUX apply
// to the annotation before them only.
func DecodeAnnotations(data []byte) ([]Annotation, error) {
	var (
		out  []Annotation
		t    int64
		num  int
		chn  int
		p    int
		word = func() (int, error) {
			if p+2 > len(data) {
				return 0, fmt.Errorf("truncated at byte %d", p)
			}
			w := int(binary.LittleEndian.Uint16(data[p:]))
			p += 2
			return w, nil
		}
	)
	for p < len(data) {
		w, err := word()
		if err != nil {
			return nil, err
		}
		code, v := w>>10, w&0x3FF
		switch {
		case w == 0:
			return out, nil
		case code == codeSkip:
			hi, err := word()
			if err != nil {
				return nil, err
			}
			lo, err := word()
			if err != nil {
				return nil, err
			}
			t += int64(int32(uint32(hi)<<16 | uint32(lo)))
		case code == codeNum:
			num = signed10(v)
			if len(out) > 0 {
				out[len(out)-1].Num = num
			}
		case code == codeSub:
			if len(out) > 0 {
				out[len(out)-1].Sub = signed10(v)
			}
		case code == codeChn:
			chn = v
			if len(out) > 0 {
				out[len(out)-1].Chan = chn
			}
		case code == codeAux:
			n := v & 0xFF
			if p+n > len(data) {
				return nil, fmt.Errorf("aux text truncated at byte %d", p)
			}
			text := data[p : p+n]
			p += n + n%2
			if len(out) > 0 {
				// Aux strings may be NUL-terminated inside their length.
				for i, c := range text {
					if c == 0 {
						text = text[:i]
						break
					}
				}
				out[len(out)-1].Aux = string(text)
			}
		case code >= 1 && code <= 49:
			t += int64(v)
			out = append(out, Annotation{Sample: t, Code: code, Num: num, Chan: chn})
		case code == 0:
			// Code 0 with a nonzero interval is a NOTQRS placeholder that
			// only moves time.
			t += int64(v)
		default:
			return nil, fmt.Errorf("unknown annotation code %d at byte %d", code, p-2)
		}
	}
	return out, nil
}

func signed10(v int) int {
	if v&0x200 != 0 {
		return v - 0x400
	}
	return v
}
