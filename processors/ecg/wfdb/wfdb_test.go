package wfdb

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
)

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader(strings.NewReader("101 2 360 650000\n" +
		"101.dat 212 200 11 1024 955 29832 0 MLII\n" +
		"101.dat 212 200(1000)/uV 11 1024 992 -19589 0 V1\n# 75 F 1011 654 x1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Record != "101" || h.FS != 360 || h.NSamples != 650000 || len(h.Signals) != 2 {
		t.Fatalf("record line: %+v", h)
	}
	s0, s1 := h.Signals[0], h.Signals[1]
	if s0.Gain != 200 || s0.Baseline != 1024 || s0.InitVal != 955 || s0.Checksum != 29832 || s0.Description != "MLII" || s0.Units != "mV" {
		t.Errorf("signal 0: %+v", s0)
	}
	if s1.Baseline != 1000 || s1.Units != "uV" || s1.Checksum != -19589 {
		t.Errorf("signal 1: %+v", s1)
	}
	if len(h.Comments) != 1 {
		t.Errorf("comments %q", h.Comments)
	}
	if _, err := ParseHeader(strings.NewReader("x 2 360 10\nx.dat 212\n")); err == nil {
		t.Error("missing signal line accepted")
	}
}

func TestDecode212(t *testing.T) {
	// s0 = 0x123, s1 = -1 (0xFFF): b0=0x23, b1 = 0xF1, b2 = 0xFF.
	got, err := Decode212([]byte{0x23, 0xF1, 0xFF, 0x00, 0x08, 0x01}, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// second frame: s0 = 0x800 → -2048, s1 = 0x001.
	want := [][]int16{{0x123, -2048}, {-1, 1}}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("signal %d sample %d = %d, want %d", i, j, got[i][j], want[i][j])
			}
		}
	}
}

func TestDecodeAnnotationsPseudo(t *testing.T) {
	w := func(code, v int) []byte { x := code<<10 | v; return []byte{byte(x), byte(x >> 8)} }
	var b []byte
	b = append(b, w(codeSkip, 0)...)
	b = append(b, 0x01, 0x00, 0x02, 0x00) // high word 1, low word 2 → 65538
	b = append(b, w(Normal, 10)...)
	b = append(b, w(codeNum, 5)...)
	b = append(b, w(codeChn, 1)...)
	b = append(b, w(PVC, 300)...)
	b = append(b, w(codeSub, 0x3FF)...) // -1
	b = append(b, w(Rhythm, 0)...)
	b = append(b, w(codeAux, 5)...)
	b = append(b, '(', 'V', 'F', 'L', 0, 0)
	b = append(b, 0, 0)
	a, err := DecodeAnnotations(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Annotation{
		{Sample: 65548, Code: Normal, Num: 5, Chan: 1},
		{Sample: 65848, Code: PVC, Num: 5, Chan: 1, Sub: -1},
		{Sample: 65848, Code: Rhythm, Num: 5, Chan: 1, Aux: "(VFL"},
	}
	if len(a) != len(want) {
		t.Fatalf("got %d annotations %+v", len(a), a)
	}
	for i := range want {
		if a[i] != want[i] {
			t.Errorf("annotation %d = %+v, want %+v", i, a[i], want[i])
		}
	}
}

func TestRecord101(t *testing.T) {
	dir := mitdbtest.Dir(t)
	h, err := ReadHeader(filepath.Join(dir, "101.hea"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Signals[0].Checksum != 29832 || h.Signals[1].Checksum != 19589 {
		t.Fatalf("header checksums %d %d", h.Signals[0].Checksum, h.Signals[1].Checksum)
	}
	x, err := h.ReadSignals()
	if err != nil {
		t.Fatal(err)
	}
	if len(x[0]) != 650000 {
		t.Fatalf("%d samples", len(x[0]))
	}
	if Checksum(x[0]) != 29832 || Checksum(x[1]) != 19589 {
		t.Errorf("decoded checksums %d %d, want 29832 19589", Checksum(x[0]), Checksum(x[1]))
	}
	// The header's initial values are the first samples.
	if x[0][0] != 955 || x[1][0] != 992 {
		t.Errorf("first samples %d %d, want 955 992", x[0][0], x[1][0])
	}
	mv := h.Physical(0, x[0][:1])
	if d := mv[0] - float32(955-1024)/200; d > 1e-6 || d < -1e-6 {
		t.Errorf("first sample %v mV", mv[0])
	}
	a, err := ReadAnnotations(filepath.Join(dir, "101.atr"))
	if err != nil {
		t.Fatal(err)
	}
	beats, other := 0, 0
	for i, an := range a {
		if i > 0 && an.Sample < a[i-1].Sample {
			t.Fatalf("annotation %d goes back in time", i)
		}
		if IsBeat(an.Code) {
			beats++
		} else {
			other++
		}
	}
	// PhysioNet's table for record 101: 1,865 beats (1860 N, 3 A, 2 Q).
	if beats != 1865 {
		t.Errorf("record 101: %d beat annotations, want 1865", beats)
	}
	if a[len(a)-1].Sample >= 650000 {
		t.Errorf("last annotation at %d beyond the record", a[len(a)-1].Sample)
	}
	if a[0].Code != Rhythm || a[0].Aux != "(N" {
		t.Errorf("first annotation %+v, want the rhythm label (N", a[0])
	}
	t.Logf("record 101: %d beats, %d other annotations", beats, other)
}

// TestAllChecksums decodes every record and checks both header checksums,
// and that every beat annotation lies inside the record.
func TestAllChecksums(t *testing.T) {
	dir := mitdbtest.Dir(t)
	for _, rec := range mitdbtest.Records(t, dir) {
		h, err := ReadHeader(filepath.Join(dir, rec+".hea"))
		if err != nil {
			t.Fatal(err)
		}
		x, err := h.ReadSignals()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range h.Signals {
			if !ChecksumMatches(x[i], s.Checksum) {
				t.Errorf("%s signal %d: sum %d, header %d", rec, i, Checksum(x[i]), s.Checksum)
			}
			if int(x[i][0]) != s.InitVal {
				t.Errorf("%s signal %d: first sample %d, header %d", rec, i, x[i][0], s.InitVal)
			}
		}
		a, err := ReadAnnotations(filepath.Join(dir, rec+".atr"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, an := range a {
			if IsBeat(an.Code) {
				n++
			}
			if an.Sample < 0 || an.Sample >= h.NSamples {
				t.Errorf("%s: annotation at %d outside the record", rec, an.Sample)
			}
		}
		// 30 minutes at 30–200 beat/min.
		if n < 900 || n > 6000 {
			t.Errorf("%s: %d beats is implausible for 30 minutes", rec, n)
		}
	}
}
