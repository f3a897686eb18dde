package wfdb

import (
	"strings"
	"testing"
)

func FuzzDecodeAnnotations(f *testing.F) {
	f.Add([]byte{0x0a, 0x04, 0x00, 0xec, 0x01, 0x00, 0x02, 0x00, 0x05, 0xfc, 'a', 'b', 'c', 'd', 'e', 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAnnotations(b)
		if err != nil {
			return
		}
		for _, x := range a {
			if x.Code < 1 || x.Code > 49 {
				t.Fatalf("annotation with code %d", x.Code)
			}
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add("101 2 360 650000\n101.dat 212 200 11 1024 955 29832 0 MLII\n101.dat 212 200 11 1024 992 19589 0 V1\n")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(strings.NewReader(s))
		if err != nil {
			return
		}
		if h.FS <= 0 || h.NSamples < 0 {
			t.Fatalf("accepted header %+v", h)
		}
	})
}

func FuzzDecode212(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7}, 2)
	f.Fuzz(func(t *testing.T, b []byte, nsig int) {
		nsig = nsig%8 + 1
		if nsig <= 0 {
			nsig = 1
		}
		x, err := Decode212(b, nsig, 0)
		if err != nil {
			return
		}
		for _, s := range x {
			for _, v := range s {
				if v < -2048 || v > 2047 {
					t.Fatalf("sample %d outside 12 bits", v)
				}
			}
		}
	})
}
